"""The demo's flight-delay story: flight AC123 tomorrow with 300 subscribed passengers (the demo
customer and 299 seeded customers), and the `flight.delayed` event a demo admin sends for it.
Seeding is idempotent: `make demo` runs it on every start."""

import uuid
from datetime import date, timedelta

from django.db import transaction

from pocketdesk.accounts.models import Role, User
from pocketdesk.core import clock
from pocketdesk.customers.models import Customer
from pocketdesk.demo.seed import DEMO_LOGINS
from pocketdesk.notifications.models import Event, Subscription
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.subscriptions import subscription_add, topic_check

FLIGHT = "AC123"
PASSENGERS = 300
NEW_TIME = "18:40"


def flight_day() -> date:
    return clock.now().date() + timedelta(days=1)


def flight_topic(day: date | None = None) -> str:
    return topic_check(f"flight:{FLIGHT}:{(day or flight_day()).isoformat()}")


def seed_flight() -> tuple[str, int]:
    """Subscribe the demo customer and up to 299 seeded customers (the lowest ids, so the same
    ones on every run) to tomorrow's AC123. Returns (topic, passengers)."""
    topic = flight_topic()
    admin = User.objects.get(email__iexact=DEMO_LOGINS[Role.ADMIN], role=Role.ADMIN)
    demo_customer = Customer.objects.get(user__email__iexact=DEMO_LOGINS[Role.CUSTOMER])
    subscription_add(actor=admin, customer=demo_customer, topic=topic)
    others = list(
        Customer.objects.filter(user__isnull=True, merged_into__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[: PASSENGERS - 1]
    )
    now = clock.now()
    with transaction.atomic():
        # One INSERT for the seeded passengers; the unique (customer, topic) makes a re-run
        # add nothing.
        Subscription.objects.bulk_create(
            [Subscription(customer_id=pk, topic=topic, created_at=now) for pk in others],
            ignore_conflicts=True,
        )
    return topic, Subscription.objects.filter(topic=topic).count()


def flight_delay_post() -> tuple[Event, str]:
    """Send `flight.delayed` for tomorrow's AC123 as the demo admin, with a fresh source id
    (so every run is a new event). Returns (event, topic)."""
    topic, _ = seed_flight()
    admin = User.objects.get(email__iexact=DEMO_LOGINS[Role.ADMIN], role=Role.ADMIN)
    event, _ = event_accept(
        actor=admin,
        type="flight.delayed",
        source_id=f"demo-flight-delay-{uuid.uuid4().hex[:12]}",
        subject={"topic": topic},
        payload={"flight": FLIGHT, "date": flight_day().isoformat(), "new_time": NEW_TIME},
    )
    return event, topic
