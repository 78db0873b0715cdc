"""The customer home is built from sections that apps register (not a hard-coded list).

An app adds one in its AppConfig.ready():

    home_section_register(HomeSection(key="shipments", title=_("Deliveries"),
                                      template="shipping/home_section.html",
                                      context=lambda request, customer: {...}, order=20))
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

SectionContext = Callable[[HttpRequest, Any], dict[str, Any] | None]


@dataclass(frozen=True)
class HomeSection:
    key: str
    title: Any
    template: str
    context: SectionContext
    order: int = 100


_sections: dict[str, HomeSection] = {}


def home_section_register(section: HomeSection) -> None:
    _sections[section.key] = section


def home_sections() -> list[HomeSection]:
    return sorted(_sections.values(), key=lambda s: (s.order, s.key))
