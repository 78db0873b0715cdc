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
from pocketdesk.notifications.models import AlertRule, Event, Subscription, Workflow
from pocketdesk.notifications.services.configuration import (
    rule_create,
    template_upsert,
    workflow_create,
)
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.subscriptions import subscription_add, topic_check

FLIGHT = "AC123"
PASSENGERS = 300
NEW_TIME = "18:40"
DELAY_MINUTES = 95
WORKFLOW = "flight-disruption"
# Long delays go by the passenger's ranking with a fallback to their next channel when the
# first is not delivered (or read in the app) within 15 minutes.
STEPS = [{"type": "send", "channels": [], "fallback_after_minutes": 15}]
TEMPLATES = [
    # (channel kind, language, subject, body)
    (
        "phone",
        "fr",
        "",
        "Votre vol {{ payload.flight }} est retardé, départ prévu à {{ payload.new_time }}.",
    ),
    (
        "email",
        "",
        "Flight {{ payload.flight }} delayed",
        "Your flight {{ payload.flight }} on {{ payload.date }} is delayed by"
        " {{ payload.delay_minutes }} minutes. New departure: {{ payload.new_time }}.",
    ),
    (
        "email",
        "fr",
        "Vol {{ payload.flight }} retardé",
        "Votre vol {{ payload.flight }} du {{ payload.date }} est retardé de"
        " {{ payload.delay_minutes }} minutes. Nouveau départ : {{ payload.new_time }}.",
    ),
]


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
    seed_flight_workflow()
    return topic, Subscription.objects.filter(topic=topic).count()


def seed_flight_workflow() -> Workflow:
    """The workflow, its alert rule (delays of an hour or more) and the French/e-mail
    templates, made once through the configuration services as the demo admin."""
    existing = Workflow.objects.filter(key=WORKFLOW).first()
    if existing is not None:
        return existing
    admin = User.objects.get(email__iexact=DEMO_LOGINS[Role.ADMIN], role=Role.ADMIN)
    with transaction.atomic():
        workflow = workflow_create(
            actor=admin,
            key=WORKFLOW,
            name="Flight disruption",
            steps=STEPS,
            category="travel",
        )
        if not AlertRule.objects.filter(workflow=workflow).exists():
            rule_create(
                actor=admin,
                name="Delays of an hour or more",
                event_type="flight.delayed",
                workflow=workflow,
                condition="payload.delay_minutes >= 60",
            )
        for channel_kind, language, subject, body in TEMPLATES:
            template_upsert(
                actor=admin,
                event_type="flight.delayed",
                channel_kind=channel_kind,
                language=language,
                subject=subject,
                body=body,
            )
    return workflow


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
        payload={
            "flight": FLIGHT,
            "date": flight_day().isoformat(),
            "new_time": NEW_TIME,
            "delay_minutes": DELAY_MINUTES,
        },
    )
    return event, topic
