"""The fanout bench's work, run by `bench/_prepare.py fanout` in the bench env (Django set up):
seed the audience once, then time `event_accept` + `event_fan_out` in-process, and clean up.

Seed (once, reused): customers up to 100,000 (the bench seed's 10,000 and 90,000 more, each
with one contact point, an alerts consent mix and send windows for some), all subscribed to
one topic. Each timed run is a new event for that topic; afterwards its notifications and its
queued fan-out task are deleted, so no worker of a later bench sends them.
"""

import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import time as clock_time
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from pocketdesk.accounts.models import User
from pocketdesk.core import clock
from pocketdesk.customers.models import (
    ChannelKind,
    Consent,
    ContactPoint,
    Customer,
    Purpose,
    SendWindow,
)
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.services import channel_create
from pocketdesk.notifications.models import Event, Notification, Subscription
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.fanout import event_fan_out

AUDIENCE = 100_000
TOPIC = "flight:BENCH1:2026-12-01"
EVENT_TYPE = "flight.delayed"
SOURCE_PREFIX = "bench-fanout-"
SEED_NAME = "Fan-out bench"
SEED_CHUNK = 5_000
SEED_RANDOM = 13
GOAL_SECONDS = 10.0
FAN_OUT_TASK = "pocketdesk.notifications.tasks.event_fan_out"
ZONES = ["Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"]


def log(message: str) -> None:
    print(f"fanout: {message}", file=sys.stderr, flush=True)


def _channel(number: str, account: str, token: str) -> Channel:
    """An active SMS channel, so phone contact points are sendable (the ingest bench's number
    when nothing is active yet)."""
    active = Channel.objects.filter(is_active=True, kind="twilio_sms").order_by("pk").first()
    if active is not None:
        return active
    return channel_create(
        actor=None,
        kind="twilio_sms",
        name="Bench ingest",
        address=number,
        credentials={"account_sid": account, "auth_token": token},
    )


def _seed_customers(missing: int) -> None:
    rng = random.Random(SEED_RANDOM)
    now = clock.now()
    start = Customer.objects.filter(name__startswith=SEED_NAME).count()
    for offset in range(0, missing, SEED_CHUNK):
        size = min(SEED_CHUNK, missing - offset)
        with transaction.atomic():
            customers = Customer.objects.bulk_create(
                [
                    Customer(
                        name=f"{SEED_NAME} {start + offset + i}",
                        time_zone=rng.choice(ZONES),
                        channel_ranking=rng.choice([[], ["email", "phone"], ["phone"]]),
                        created_at=now,
                        updated_at=now,
                    )
                    for i in range(size)
                ]
            )
            points, consents, windows = [], [], []
            for i, customer in enumerate(customers):
                n = start + offset + i
                if n % 2:
                    kind, value = ChannelKind.PHONE, f"+4420{n:08d}"
                else:
                    kind, value = ChannelKind.EMAIL, f"fanout.{n}@bench.example.com"
                points.append(
                    ContactPoint(
                        customer=customer, kind=kind, value=value, verified_at=now, created_at=now
                    )
                )
                roll = rng.random()  # ~85% alerts granted, 10% no consent, 5% withdrawn
                if roll < 0.95:
                    consents.append(
                        Consent(
                            customer=customer,
                            purpose=Purpose.ALERTS,
                            granted=roll < 0.85,
                            changed_at=now,
                            source="import",
                        )
                    )
                consents.append(
                    Consent(
                        customer=customer,
                        purpose=Purpose.TRANSACTIONAL,
                        granted=rng.random() < 0.97,
                        changed_at=now,
                        source="import",
                    )
                )
                if rng.random() < 0.4:  # quiet hours: weekdays only, office hours
                    opens = clock_time(rng.choice([8, 9, 10]))
                    closes = clock_time(rng.choice([17, 18, 20]))
                    windows.extend(
                        SendWindow(customer=customer, weekday=day, starts_at=opens, ends_at=closes)
                        for day in range(5)
                    )
            ContactPoint.objects.bulk_create(points, batch_size=SEED_CHUNK)
            Consent.objects.bulk_create(consents, batch_size=SEED_CHUNK)
            SendWindow.objects.bulk_create(windows, batch_size=SEED_CHUNK)
        log(f"seeded {offset + size:,}/{missing:,} customers")


def seed() -> dict[str, Any]:
    """Customers up to AUDIENCE, all subscribed to TOPIC; a no-op once done."""
    started = time.perf_counter()
    missing = max(0, AUDIENCE - Customer.objects.count())
    if missing:
        _seed_customers(missing)
    subscribed = Subscription.objects.filter(topic=TOPIC).count()
    if subscribed < AUDIENCE:
        now = clock.now()
        pks = list(
            Customer.objects.exclude(subscriptions__topic=TOPIC)
            .order_by("pk")
            .values_list("pk", flat=True)[: AUDIENCE - subscribed]
        )
        for offset in range(0, len(pks), SEED_CHUNK):
            Subscription.objects.bulk_create(
                [
                    Subscription(customer_id=pk, topic=TOPIC, created_at=now)
                    for pk in pks[offset : offset + SEED_CHUNK]
                ],
                ignore_conflicts=True,
            )
        log(f"subscribed {len(pks):,} customers to {TOPIC}")
    seconds = time.perf_counter() - started
    made = bool(missing) or subscribed < AUDIENCE
    log(f"seed {'made' if made else 'reused'} in {seconds:.1f} s")
    return {
        "made": made,
        "customers_added": missing,
        "seconds": round(seconds, 2),
        "subscribers": Subscription.objects.filter(topic=TOPIC).count(),
    }


def clean_up() -> None:
    """Delete the bench's events (their notifications go with them) and their fan-out tasks."""
    events = list(
        Event.objects.filter(source_id__startswith=SOURCE_PREFIX).values_list("pk", flat=True)
    )
    if not events:
        return
    # In chunks: the delete cascades to deliveries and clears digest links, by pk lists that
    # would pass SQLite's variable limit at 100,000 notifications.
    notifications = Notification.objects.filter(event_id__in=events)
    while True:
        chunk = list(notifications.values_list("pk", flat=True)[:5000])
        if not chunk:
            break
        Notification.objects.filter(pk__in=chunk).delete()
    Event.objects.filter(pk__in=events).delete()
    DBTaskResult.objects.filter(task_path=FAN_OUT_TASK, args_kwargs__args__0__in=events).delete()


def one_run(actor: User, index: int) -> dict[str, Any]:
    source_id = f"{SOURCE_PREFIX}{uuid.uuid4().hex}"
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        event, created = event_accept(
            actor=actor,
            type=EVENT_TYPE,
            source_id=source_id,
            subject={"topic": TOPIC},
            payload={"flight": "BENCH1", "delay_minutes": 45},
        )
        accepted = time.perf_counter()
        recipients = event_fan_out(event_id=event.pk)
        seconds = time.perf_counter() - started
    assert created
    fanned = Notification.objects.filter(event=event)
    rows = fanned.count()
    now = clock.now()
    by = (
        fanned.values("status", "skip_reason", "channel_kind")
        .annotate(
            count=Count("pk"),
            deferred=Count("pk", filter=Q(deliver_after__gt=now + timedelta(minutes=1))),
        )
        .order_by("status", "skip_reason", "channel_kind")
    )
    outcome = {
        f"{row['status']} {row['skip_reason'] or row['channel_kind']}": row["count"] for row in by
    }
    deferred = sum(row["deferred"] for row in by)
    log(
        f"run {index}: {seconds:.2f} s (accept {accepted - started:.3f} s), {rows:,} rows, "
        f"{len(queries)} queries, {deferred:,} deferred by send windows"
    )
    return {
        "seconds": round(seconds, 3),
        "accept_seconds": round(accepted - started, 4),
        "recipients": recipients,
        "notification_rows": rows,
        "queries": len(queries),
        "by_status": outcome,
        "deferred_by_window": deferred,
    }


def fanout_run(
    *, agent_email: str, database: Callable[[], dict[str, Any]], sms: tuple[str, str, str]
) -> dict[str, Any]:
    """Seed (once), then BENCH_RUNS timed fan-outs as the demo agent; sms is the (number,
    account sid, auth token) of the channel to make when no SMS channel is active."""
    runs = int(os.environ.get("BENCH_RUNS") or 3)
    clean_up()
    _channel(*sms)
    seeded = seed()
    actor = User.objects.get(email=agent_email)
    results = []
    try:
        for index in range(1, runs + 1):
            results.append(one_run(actor, index))
    finally:
        clean_up()
    median = statistics.median(run["seconds"] for run in results)
    return {
        "seed": seeded,
        "runs": results,
        "median_seconds": median,
        "database": database(),
    }
