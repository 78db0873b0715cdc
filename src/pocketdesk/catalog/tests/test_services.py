"""Catalog services: GTINs, products, units and lots, and registration of units by customers."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pocketdesk.catalog.models import Lot, Product, ProductUnit, UnitRegistration
from pocketdesk.catalog.services import gtin_normalize, product_create, unit_create, unit_register
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from pocketdesk.core.models import AuditEvent
from pocketdesk.customers.models import TimelineEntry

GTIN_13 = "4006381333931"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("036000291452", "00036000291452"),  # GTIN-12 (UPC-A)
        (GTIN_13, "04006381333931"),  # GTIN-13 (EAN-13)
        ("04006381333931", "04006381333931"),  # GTIN-14
        (f" {GTIN_13} ", "04006381333931"),
    ],
)
def test_gtins_are_kept_as_gtin_14(typed, stored):
    assert gtin_normalize(typed) == stored


@pytest.mark.parametrize("typed", ["4006381333932", "4006381333", "40063813339310000", "ABC", ""])
def test_bad_gtins_are_refused(typed):
    with pytest.raises(ValidationFailed) as refused:
        gtin_normalize(typed)
    assert refused.value.code == "invalid_gtin"
    assert refused.value.status == 422


@pytest.fixture
def product(admin_user):
    return product_create(actor=admin_user, gtin=GTIN_13, name="Kettle", brand="Acme")


def test_product_create_stores_the_gtin_14_and_is_audited(product, admin_user):
    assert Product.objects.get(pk=product.pk).gtin == "04006381333931"
    assert product.public_id.startswith("prd_")
    event = AuditEvent.objects.get(action="product.created")
    assert (event.actor, event.target_id) == (admin_user, product.public_id)


def test_the_same_gtin_written_twice_ways_is_one_product(product, admin_user):
    with pytest.raises(Conflict) as taken:
        product_create(actor=admin_user, gtin="04006381333931", name="Kettle again")
    assert taken.value.code == "gtin_taken"
    assert Product.objects.count() == 1


@pytest.mark.parametrize("role", ["agent", "customer", "employee", "partner"])
def test_only_admins_change_the_catalog(make_user, product, role):
    actor = make_user(role)
    with pytest.raises(PermissionDenied):
        product_create(actor=actor, gtin="96385074", name="Nope")
    with pytest.raises(PermissionDenied):
        unit_create(actor=actor, product=product, serial="S-1")
    assert Product.objects.count() == 1
    assert not ProductUnit.objects.exists()


def test_units_have_a_serial_unique_per_product_and_share_lots(product, admin_user):
    # given
    first = unit_create(actor=admin_user, product=product, serial=" S-1 ", lot_code="L42")
    second = unit_create(actor=admin_user, product=product, serial="S-2", lot_code="L42")
    # then
    assert first.serial == "S-1"
    assert first.lot == second.lot
    assert Lot.objects.get().code == "L42"
    with pytest.raises(Conflict) as taken:
        unit_create(actor=admin_user, product=product, serial="S-1")
    assert taken.value.code == "serial_taken"
    other = product_create(actor=admin_user, gtin="96385074", name="Toaster")
    assert unit_create(actor=admin_user, product=other, serial="S-1").product == other


@pytest.mark.parametrize("serial", ["", "   ", "x" * 21])
def test_bad_serials_are_refused(product, admin_user, serial):
    with pytest.raises(ValidationFailed):
        unit_create(actor=admin_user, product=product, serial=serial)
    assert not ProductUnit.objects.exists()


@pytest.fixture
def unit(product, admin_user):
    return unit_create(actor=admin_user, product=product, serial="K-1")


def test_a_customer_registers_a_unit(make_customer, unit):
    # given
    customer = make_customer()
    # when the GTIN is typed as printed under the barcode (GTIN-13)
    registration = unit_register(
        actor=customer.user,
        customer=customer,
        gtin=GTIN_13,
        serial=" K-1 ",
        purchased_on=clock.now().date(),
    )
    # then
    assert registration.unit == unit
    assert registration.customer == customer
    entry = TimelineEntry.objects.get(customer=customer, kind="unit.registered")
    assert entry.source == "catalog"
    assert entry.actor == customer.user
    assert entry.data == {
        "registration": registration.public_id,
        "gtin": "04006381333931",
        "serial": "K-1",
    }


def test_registering_ones_own_unit_again_is_a_no_op(make_customer, unit):
    customer = make_customer()
    first = unit_register(actor=None, customer=customer, gtin=GTIN_13, serial="K-1")
    again = unit_register(actor=None, customer=customer, gtin="04006381333931", serial="K-1")
    assert again.pk == first.pk
    assert UnitRegistration.objects.count() == 1
    assert TimelineEntry.objects.filter(kind="unit.registered").count() == 1


def test_someone_elses_unit_is_a_conflict(make_customer, unit):
    owner, other = make_customer(), make_customer(name="Other")
    unit_register(actor=None, customer=owner, gtin=GTIN_13, serial="K-1")
    with pytest.raises(Conflict) as taken:
        unit_register(actor=None, customer=other, gtin=GTIN_13, serial="K-1")
    assert taken.value.code == "unit_registered"
    assert UnitRegistration.objects.get().customer == owner
    assert not TimelineEntry.objects.filter(customer=other, kind="unit.registered").exists()


@pytest.mark.parametrize(("gtin", "serial"), [(GTIN_13, "K-2"), ("96385074", "K-1")])
def test_an_unknown_unit_is_not_found(make_customer, unit, gtin, serial):
    with pytest.raises(NotFound):
        unit_register(actor=None, customer=make_customer(), gtin=gtin, serial=serial)
    assert not UnitRegistration.objects.exists()


def test_a_purchase_date_in_the_future_is_refused(make_customer, unit):
    tomorrow = clock.now().date() + timedelta(days=1)
    with pytest.raises(ValidationFailed) as refused:
        unit_register(
            actor=None, customer=make_customer(), gtin=GTIN_13, serial="K-1", purchased_on=tomorrow
        )
    assert refused.value.body()["errors"][0]["field"] == "purchased_on"
    assert not UnitRegistration.objects.exists()


def test_the_purchase_date_is_checked_against_the_customers_own_today(make_customer, unit):
    # given a customer in Auckland at 08:00 on Christmas morning, still the 24th in UTC
    customer = make_customer(time_zone="Pacific/Auckland")
    morning = datetime(2030, 12, 25, 8, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    # when they register what they bought this morning
    with clock.frozen_at(morning.astimezone(UTC)):
        registration = unit_register(
            actor=None,
            customer=customer,
            gtin=GTIN_13,
            serial="K-1",
            purchased_on=date(2030, 12, 25),
        )
    # then it is accepted
    assert registration.purchased_on == date(2030, 12, 25)
