"""Catalog reads. Products are public to signed-in users; registrations are scoped by owner."""

from django.db.models import QuerySet

from pocketdesk.accounts.models import STAFF_ROLES, User
from pocketdesk.catalog.models import Product, ProductUnit, UnitRegistration
from pocketdesk.catalog.services import gtin_normalize
from pocketdesk.core.errors import NotFound


def product_list(*, actor: User, query: str = "") -> QuerySet[Product]:
    products = Product.objects.all()
    if query:
        products = products.filter(name__icontains=query.strip())
    return products


def product_get(*, actor: User, id_or_gtin: str) -> Product:
    if id_or_gtin.startswith("prd_"):
        product = Product.objects.filter(public_id=id_or_gtin).first()
    else:
        product = Product.objects.filter(gtin=gtin_normalize(id_or_gtin)).first()
    if product is None:
        raise NotFound("No such product.")
    return product


def unit_get(*, actor: User, public_id: str) -> ProductUnit:
    if actor.role not in STAFF_ROLES:
        raise NotFound("No such unit.")
    unit = ProductUnit.objects.select_related("product", "lot").filter(public_id=public_id).first()
    if unit is None:
        raise NotFound("No such unit.")
    return unit


def registration_list(*, actor: User) -> QuerySet[UnitRegistration]:
    return (
        UnitRegistration.objects.filter(customer__user=actor, ended_at__isnull=True)
        .select_related("unit__product", "unit__lot")
        .order_by("-registered_at")
    )
