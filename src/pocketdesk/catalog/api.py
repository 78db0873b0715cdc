"""Catalog API: products and units (staff writes), registrations (customer self-service)."""

from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import CursorPagination, paginate

from pocketdesk.accounts.auth import admin_auth, any_user_auth, customer_auth, staff_auth
from pocketdesk.catalog import selectors, services
from pocketdesk.catalog.models import Product, ProductUnit, UnitRegistration
from pocketdesk.catalog.schemas import (
    ProductIn,
    ProductOut,
    RegistrationIn,
    RegistrationOut,
    UnitIn,
    UnitOut,
)
from pocketdesk.customers.selectors import customer_of_user

router = Router(tags=["catalog"])
me_router = Router(tags=["me"], auth=customer_auth)


@router.get("/products", response=list[ProductOut], auth=any_user_auth)
@paginate(CursorPagination, ordering=("public_id",))
def product_list(request: HttpRequest, q: str = "") -> object:
    return selectors.product_list(actor=request.auth, query=q)  # type: ignore[attr-defined]


@router.post("/products", response={201: ProductOut}, auth=admin_auth)
def product_create(request: HttpRequest, payload: ProductIn) -> Status[Product]:
    return Status(201, services.product_create(actor=request.auth, **payload.dict()))  # type: ignore[attr-defined]


@router.get("/products/{product_id}", response=ProductOut, auth=any_user_auth)
def product_get(request: HttpRequest, product_id: str) -> Product:
    """By public id (`prd_…`) or by GTIN (8, 12, 13 or 14 digits)."""
    return selectors.product_get(actor=request.auth, id_or_gtin=product_id)  # type: ignore[attr-defined]


@router.post("/products/{product_id}/units", response={201: UnitOut}, auth=admin_auth)
def unit_create(request: HttpRequest, product_id: str, payload: UnitIn) -> Status[ProductUnit]:
    actor = request.auth  # type: ignore[attr-defined]
    product = selectors.product_get(actor=actor, id_or_gtin=product_id)
    unit = services.unit_create(
        actor=actor,
        product=product,
        serial=payload.serial,
        lot_code=payload.lot,
        manufactured_on=payload.manufactured_on,
    )
    return Status(201, unit)


@router.get("/units/{unit_id}", response=UnitOut, auth=staff_auth)
def unit_get(request: HttpRequest, unit_id: str) -> ProductUnit:
    return selectors.unit_get(actor=request.auth, public_id=unit_id)  # type: ignore[attr-defined]


@me_router.get("", response=list[RegistrationOut])
def registration_list(request: HttpRequest) -> list[UnitRegistration]:
    return list(selectors.registration_list(actor=request.auth))  # type: ignore[attr-defined]


@me_router.post("", response={201: RegistrationOut})
def registration_create(request: HttpRequest, payload: RegistrationIn) -> Status[UnitRegistration]:
    actor = request.auth  # type: ignore[attr-defined]
    registration = services.unit_register(
        actor=actor,
        customer=customer_of_user(actor=actor),
        gtin=payload.gtin,
        serial=payload.serial,
        purchased_on=payload.purchased_on,
    )
    registrations = UnitRegistration.objects.select_related("unit__product", "unit__lot")
    return Status(201, registrations.get(pk=registration.pk))
