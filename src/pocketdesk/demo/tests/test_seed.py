"""The demo seed: deterministic, valid data, the four logins, and an idempotent second run."""

import phonenumbers
from django.core.management import call_command
from django.test import Client

from pocketdesk.accounts.models import User
from pocketdesk.customers.models import ChannelKind, ContactPoint, Customer
from pocketdesk.demo.seed import DEMO_LINK_CODE, DEMO_LOGINS, DEMO_PASSWORD, seed_customers
from pocketdesk.links.models import Link


def _names() -> list[str]:
    return list(
        Customer.objects.exclude(user__isnull=False).order_by("id").values_list("name", flat=True)
    )


def test_same_seed_same_customers(db):
    seed_customers(count=40, seed=11, progress=lambda n: None)
    first = _names()
    Customer.objects.all().delete()
    seed_customers(count=40, seed=11, progress=lambda n: None)
    assert _names() == first
    assert len(set(first)) > 30


def test_seeded_phones_are_valid_and_customers_are_complete(db):
    seed_customers(count=60, seed=3, progress=lambda n: None)
    phones = ContactPoint.objects.filter(kind=ChannelKind.PHONE).values_list("value", flat=True)
    assert len(phones) == 60
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    customer = Customer.objects.prefetch_related("consents", "timeline").first()
    assert customer.consents.count() == 3
    assert customer.timeline.count() == 1


def test_command_seeds_logins_once(db, capsys):
    call_command("demo_seed", "--customers", "10", "--seed", "5")
    call_command("demo_seed", "--customers", "10", "--seed", "5", "--if-empty")
    out = capsys.readouterr().out
    assert "already present" in out
    assert Customer.objects.filter(user__isnull=True).count() == 10
    for email in DEMO_LOGINS.values():
        assert User.objects.get(email=email).check_password(DEMO_PASSWORD)
    assert Link.objects.filter(code=DEMO_LINK_CODE).count() == 1
    client = Client()
    client.post("/login/", {"username": DEMO_LOGINS["customer"], "password": DEMO_PASSWORD})
    assert "Aster Robot Vacuum R3" in client.get("/").content.decode()
