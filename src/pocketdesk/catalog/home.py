"""The "Your products" section of the customer home."""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from pocketdesk.catalog.models import UnitRegistration
from pocketdesk.web.home import HomeSection, home_section_register


def _products(request: HttpRequest, customer: Any) -> dict[str, Any] | None:
    registrations = list(
        UnitRegistration.objects.filter(customer=customer, ended_at__isnull=True)
        .select_related("unit__product")
        .order_by("-registered_at")[:5]
    )
    return {"registrations": registrations} if registrations else None


def register_home_section() -> None:
    home_section_register(
        HomeSection(
            key="products",
            title=_("Your products"),
            template="catalog/home_section.html",
            context=_products,
            order=50,
        )
    )
