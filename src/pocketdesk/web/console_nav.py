"""Entries of the staff console's navigation, registered by the apps that own the pages.

console_nav_register(ConsoleNavItem(key="links", title=_("Links"), url_name="links:…"))
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConsoleNavItem:
    key: str
    title: Any
    url_name: str
    order: int = 100


_items: dict[str, ConsoleNavItem] = {}


def console_nav_register(item: ConsoleNavItem) -> None:
    _items[item.key] = item


def console_nav() -> list[ConsoleNavItem]:
    return sorted(_items.values(), key=lambda item: (item.order, item.key))
