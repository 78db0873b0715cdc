"""Deterministic demo data: customers with real-looking names, valid phone numbers, time zones
and languages, their consents, send windows and history; the catalog; the demo logins.

The same `seed` always gives the same rows (apart from generated public ids)."""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, time, timedelta

import phonenumbers
from django.conf import settings
from django.db import transaction
from faker import Faker

from pocketdesk.accounts.models import Role, User
from pocketdesk.accounts.services import user_create
from pocketdesk.catalog.models import Lot, Product, ProductUnit
from pocketdesk.catalog.services import document_add, unit_register
from pocketdesk.core import clock
from pocketdesk.customers.models import (
    ChannelKind,
    Consent,
    ContactPoint,
    Customer,
    Purpose,
    SendWindow,
    TimelineEntry,
)
from pocketdesk.customers.services import consent_set, customer_create
from pocketdesk.links.models import Link
from pocketdesk.links.services import link_create

DEMO_PASSWORD = "pocketdesk-demo"  # noqa: S105 - printed for the demo on purpose
DEMO_LOGINS = {
    Role.CUSTOMER: "customer@example.com",
    Role.AGENT: "agent@example.com",
    Role.EMPLOYEE: "employee@example.com",
    Role.ADMIN: "admin@example.com",
}
DEMO_CUSTOMER_PHONE = "+14155552671"
DEMO_LINK_CODE = "r3-setup"
BATCH = 2000


@dataclass(frozen=True)
class Locale:
    faker: str
    region: str
    language: str
    zones: tuple[str, ...]
    # national number prefixes that give valid mobile/geographic numbers
    prefixes: tuple[str, ...]
    digits: int  # national significant number length
    weight: int


LOCALES = (
    Locale(
        "en_US",
        "US",
        "en",
        ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
        ("212", "312", "415", "617", "206", "303", "512", "404"),
        10,
        40,
    ),
    Locale("en_GB", "GB", "en", ("Europe/London",), ("7400", "7700", "7911", "7824"), 10, 15),
    Locale("fr_FR", "FR", "fr", ("Europe/Paris",), ("6", "7"), 9, 25),
    Locale("fr_CA", "CA", "fr", ("America/Toronto",), ("514", "438", "418"), 10, 10),
    Locale(
        "en_CA", "CA", "en", ("America/Toronto", "America/Vancouver"), ("416", "604", "647"), 10, 10
    ),
)

PRODUCTS = (
    ("09506000134352", "Aster Robot Vacuum R3", "Aster"),
    ("04006381333931", "Lumio Smart Bulb (E27)", "Lumio"),
    ("00012345600012", "Brisa Espresso Machine", "Brisa"),
)


def _phone(rng: random.Random, locale: Locale, taken: set[str]) -> str:
    while True:
        prefix = rng.choice(locale.prefixes)
        rest = "".join(str(rng.randint(0, 9)) for _ in range(locale.digits - len(prefix)))
        if locale.region in {"US", "CA"} and rest[0] in "01":
            continue  # NANP exchange codes start with 2-9
        number = phonenumbers.parse(prefix + rest, locale.region)
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in taken and e164 != DEMO_CUSTOMER_PHONE:
            taken.add(e164)
            return e164


def _chunks(total: int, size: int) -> Iterator[int]:
    done = 0
    while done < total:
        yield min(size, total - done)
        done += size


def seed_customers(*, count: int, seed: int, progress: Callable[[int], None]) -> int:
    """Bulk-insert `count` customers with contact points, consents, windows and history."""
    rng = random.Random(seed)
    fakers = {loc.faker: Faker(loc.faker) for loc in LOCALES}
    for index, fake in enumerate(fakers.values()):
        fake.seed_instance(seed * 31 + index)
    weights = [loc.weight for loc in LOCALES]
    taken_phones: set[str] = set(
        ContactPoint.objects.filter(kind=ChannelKind.PHONE).values_list("value", flat=True)
    )
    now = clock.now()
    made = 0
    for size in _chunks(count, BATCH):
        with transaction.atomic():
            rows: list[tuple[Customer, str, str]] = []
            for _ in range(size):
                locale = rng.choices(LOCALES, weights)[0]
                fake = fakers[locale.faker]
                first, last = fake.first_name(), fake.last_name()
                created = now - timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86399))
                rows.append(
                    (
                        Customer(
                            name=f"{first} {last}",
                            language=locale.language,
                            time_zone=rng.choice(locale.zones),
                            channel_ranking=rng.choice(
                                [[], ["phone", "email"], ["whatsapp", "phone"], ["email"]]
                            ),
                            created_at=created,
                            updated_at=created,
                        ),
                        _phone(rng, locale, taken_phones),
                        f"{first}.{last}.{made + len(rows)}@example.{locale.region.lower()}".lower()
                        .replace(" ", "")
                        .replace("'", ""),
                    )
                )
            customers = Customer.objects.bulk_create([row[0] for row in rows])
            points: list[ContactPoint] = []
            consents: list[Consent] = []
            windows: list[SendWindow] = []
            history: list[TimelineEntry] = []
            for customer, (_, phone, email) in zip(customers, rows, strict=True):
                created = customer.created_at
                points.append(
                    ContactPoint(
                        customer=customer,
                        kind=ChannelKind.PHONE,
                        value=phone,
                        verified_at=created,
                        created_at=created,
                    )
                )
                points.append(
                    ContactPoint(
                        customer=customer,
                        kind=ChannelKind.EMAIL,
                        value=email,
                        verified_at=created if rng.random() < 0.7 else None,
                        created_at=created,
                    )
                )
                for purpose, chance in (
                    (Purpose.TRANSACTIONAL, 1.0),
                    (Purpose.ALERTS, 0.8),
                    (Purpose.MARKETING, 0.35),
                ):
                    consents.append(
                        Consent(
                            customer=customer,
                            purpose=purpose,
                            granted=rng.random() < chance,
                            changed_at=created,
                            source="import",
                        )
                    )
                if rng.random() < 0.5:
                    opens = time(rng.choice([7, 8, 9]))
                    closes = time(rng.choice([20, 21, 22]))
                    windows.extend(
                        SendWindow(customer=customer, weekday=day, starts_at=opens, ends_at=closes)
                        for day in range(7)
                    )
                history.append(
                    TimelineEntry(
                        customer=customer,
                        at=created,
                        kind="customer.created",
                        source="demo",
                        summary="Customer imported",
                    )
                )
            ContactPoint.objects.bulk_create(points)
            Consent.objects.bulk_create(consents)
            SendWindow.objects.bulk_create(windows)
            TimelineEntry.objects.bulk_create(history)
        made += size
        progress(size)
    return made


def seed_logins_and_catalog() -> dict[str, str]:
    """The four demo logins, the catalog, and a registered product for the demo customer."""
    users: dict[str, User] = {}
    for role, email in DEMO_LOGINS.items():
        users[role] = User.objects.filter(email=email).first() or user_create(
            email=email, password=DEMO_PASSWORD, role=role, name=f"Demo {role.label}"
        )
    customer = Customer.objects.filter(user=users[Role.CUSTOMER]).first() or customer_create(
        actor=None,
        name="Camille Martin",
        email=DEMO_LOGINS[Role.CUSTOMER],
        phone=DEMO_CUSTOMER_PHONE,
        language="en",
        time_zone="America/Los_Angeles",
        user=users[Role.CUSTOMER],
    )
    for purpose in (Purpose.TRANSACTIONAL, Purpose.ALERTS):
        consent_set(actor=None, customer=customer, purpose=purpose, granted=True, source="import")
    today = clock.now().date()
    for gtin, name, brand in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            gtin=gtin, defaults={"name": name, "brand": brand, "created_at": clock.now()}
        )
        lot, _ = Lot.objects.get_or_create(
            product=product, code="L2026-11", defaults={"manufactured_on": date(2026, 11, 2)}
        )
        for n in range(1, 21):
            ProductUnit.objects.get_or_create(
                product=product,
                serial=f"SN{n:06d}",
                defaults={"lot": lot, "manufactured_on": lot.manufactured_on},
            )
        if not product.documents.exists():
            slug = name.split(" (")[0].lower().replace(" ", "-")
            for kind, title, language in (
                ("setup_guide", f"Set up your {name}", "en"),
                ("setup_guide", f"Installer votre {name}", "fr"),
                ("manual", f"{name} user manual", "en"),
            ):
                document_add(
                    actor=None,
                    product=product,
                    kind=kind,
                    title=title,
                    url=f"https://example.com/{brand.lower()}/{slug}/{kind}-{language}",
                    language=language,
                )
    if not Link.objects.filter(code=DEMO_LINK_CODE).exists():
        # The code printed on the robot vacuum's box: opens its product page and setup guide.
        link_create(
            actor=None,
            code=DEMO_LINK_CODE,
            title="Aster R3 box insert",
            target_url=f"{settings.PD_PUBLIC_URL}/01/{PRODUCTS[0][0]}",
        )
    unit_register(
        actor=users[Role.CUSTOMER],
        customer=customer,
        gtin=PRODUCTS[0][0],
        serial="SN000001",
        purchased_on=today - timedelta(days=40),
    )
    return {role.label: email for role, email in DEMO_LOGINS.items()}
