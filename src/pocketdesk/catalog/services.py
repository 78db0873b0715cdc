"""Catalog writes: products, lots, units, and unit registration by customers."""

from datetime import date
from zoneinfo import ZoneInfo

from biip import ParseError
from biip.gtin import Gtin
from django.db import IntegrityError, transaction

from pocketdesk.accounts.models import Role, User
from pocketdesk.catalog.models import Lot, Product, ProductDocument, ProductUnit, UnitRegistration
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import timeline_record


def gtin_normalize(raw: str) -> str:
    """The GTIN-14 form of a GTIN-8/12/13/14; 422 on a wrong length or check digit."""
    try:
        return Gtin.parse(raw.strip()).as_gtin_14()
    except ParseError as exc:
        raise ValidationFailed(str(exc), field="gtin", code="invalid_gtin") from exc


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins change the catalog.")


def product_create(
    *, actor: User, gtin: str, name: str, brand: str = "", description: str = ""
) -> Product:
    _require_admin(actor)
    value = gtin_normalize(gtin)
    try:
        with transaction.atomic():
            product = Product.objects.create(
                gtin=value, name=name, brand=brand, description=description, created_at=clock.now()
            )
            audit_record(actor=actor, action="product.created", target=product)
    except IntegrityError as exc:
        raise Conflict(f"A product with GTIN {value} exists.", code="gtin_taken") from exc
    return product


def unit_create(
    *,
    actor: User,
    product: Product,
    serial: str,
    lot_code: str | None = None,
    manufactured_on: date | None = None,
) -> ProductUnit:
    _require_admin(actor)
    serial = serial.strip()
    if not 1 <= len(serial) <= 20:
        raise ValidationFailed("A serial number is 1 to 20 characters.", field="serial")
    try:
        with transaction.atomic():
            lot = None
            if lot_code:
                lot, _ = Lot.objects.get_or_create(
                    product=product,
                    code=lot_code.strip(),
                    defaults={"manufactured_on": manufactured_on},
                )
            unit = ProductUnit.objects.create(
                product=product, serial=serial, lot=lot, manufactured_on=manufactured_on
            )
    except IntegrityError as exc:
        raise Conflict(f"Unit {serial} of this product exists.", code="serial_taken") from exc
    return unit


def unit_register(
    *, actor: User, customer: Customer, gtin: str, serial: str, purchased_on: date | None = None
) -> UnitRegistration:
    """Register a unit to a customer. Registering one's own unit again returns the same row."""
    value = gtin_normalize(gtin)
    unit = ProductUnit.objects.filter(product__gtin=value, serial=serial.strip()).first()
    if unit is None:
        raise NotFound("No unit with this GTIN and serial number.")
    # "Today" is the customer's today: east of UTC it starts before UTC's does.
    today = clock.now().astimezone(ZoneInfo(customer.time_zone)).date()
    if purchased_on is not None and purchased_on > today:
        raise ValidationFailed("The purchase date is in the future.", field="purchased_on")
    try:
        with transaction.atomic():
            active = (
                UnitRegistration.objects.select_for_update()
                .filter(unit=unit, ended_at__isnull=True)
                .first()
            )
            if active is not None:
                if active.customer_id == customer.pk:
                    return active
                raise Conflict("This unit is registered to someone else.", code="unit_registered")
            registration = UnitRegistration.objects.create(
                unit=unit, customer=customer, purchased_on=purchased_on, registered_at=clock.now()
            )
            timeline_record(
                customer=customer,
                kind="unit.registered",
                summary=f"Registered {unit.product.name} (serial {unit.serial})",
                source="catalog",
                actor=actor,
                data={"registration": registration.public_id, "gtin": value, "serial": unit.serial},
            )
    except IntegrityError as exc:
        raise Conflict("This unit is registered to someone else.", code="unit_registered") from exc
    return registration


def document_add(
    *, actor: User | None, product: Product, kind: str, title: str, url: str, language: str
) -> ProductDocument:
    """Attach a setup guide, manual or video to a product (admins, or the system when None)."""
    if actor is not None:
        _require_admin(actor)
    if kind not in ProductDocument.Kind.values:
        raise ValidationFailed(f"Unknown document kind {kind!r}.", field="kind")
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        raise ValidationFailed("A document URL is an absolute http(s) URL.", field="url")
    if not language.strip() or len(language) > 12:
        raise ValidationFailed("A document needs a language tag such as 'en'.", field="language")
    with transaction.atomic():
        document = ProductDocument.objects.create(
            product=product, kind=kind, title=title[:200], url=url, language=language.strip()
        )
        if actor is not None:
            audit_record(actor=actor, action="product_document.added", target=document)
    return document
