"""The notify_email bench's work in the bench env (Django set up), run by `bench/_prepare.py
notify_email_<action>` with BENCH_NOTIFY_N and BENCH_SMTP_PORT in the env:

- seed (once, reused): BENCH_NOTIFY_N customers with one e-mail address, alerts consent, no send
  windows, all subscribed to one topic; and the bench's e-mail channel, pointed at the sink;
- `due`: an event for the topic, fanned out in-process (not timed), then `notifications_due`
  run in-process until every notification is handed to the outbox (timed); nothing is sent:
  the outbox rows and their queued tasks are deleted;
- `setup`: the same event and fan-out, with `notifications_due` left queued for the worker the
  bench starts next;
- `tick`: the bench's scheduler (until killed);
- `check`: what the run left (outbox rows, notifications and tasks by status), then clean up.

Notifications are called through their stable entry points only (event_accept and the tasks).
"""

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from django.db import OperationalError, transaction
from django.db.models import Count
from django_tasks_db.models import DBTaskResult

from pocketdesk.accounts.models import User
from pocketdesk.core import clock
from pocketdesk.customers.models import (
    ChannelKind,
    Consent,
    ContactPoint,
    Customer,
    Purpose,
    TimelineEntry,
)
from pocketdesk.messaging.models import Channel, Outbound
from pocketdesk.messaging.services import channel_create
from pocketdesk.notifications import tasks as notification_tasks
from pocketdesk.notifications.models import Event, Notification, Subscription
from pocketdesk.notifications.services.events import event_accept

SEED_NAME = "Notify-email bench"
TOPIC = "bench:notify-email"
SOURCE_PREFIX = "bench-notify-email-"
CHANNEL_ADDRESS = "alerts@bench.example.com"
CHANNEL_SECRET = "bench-notify-email-inbound-secret"  # noqa: S105 - a bench-only channel
SEED_CHUNK = 5_000
# E-mail channels the bench switched off (see _channel), switched on again by clean_up.
SWITCHED_OFF = Path(os.environ.get("PD_VAR_DIR", ".")) / "notify-email-switched-off.json"
TASK_PATHS = (
    "pocketdesk.notifications.tasks.event_fan_out",
    "pocketdesk.notifications.tasks.notifications_due",
    "pocketdesk.messaging.tasks.outbound_send",
    "pocketdesk.messaging.tasks.outbound_send_batch",
    "pocketdesk.messaging.tasks.messaging_sweep",
    "pocketdesk.messaging.tasks.inbound_events_process",
)


def log(message: str) -> None:
    print(f"notify_email: {message}", file=sys.stderr, flush=True)


def _n() -> int:
    return int(os.environ.get("BENCH_NOTIFY_N") or 100_000)


def _channel() -> Channel:
    """The bench's e-mail channel, pointed at this run's sink; it must be the active e-mail
    channel notifications pick (the oldest active one)."""
    smtp_url = f"smtp://127.0.0.1:{int(os.environ['BENCH_SMTP_PORT'])}"
    channel = Channel.objects.filter(kind="email", address=CHANNEL_ADDRESS).first()
    if channel is None:
        channel = channel_create(
            actor=None,
            kind="email",
            name="Bench alerts",
            address=CHANNEL_ADDRESS,
            credentials={"inbound_secret": CHANNEL_SECRET, "smtp_url": smtp_url},
        )
    Channel.objects.filter(pk=channel.pk).update(
        credentials={**channel.credentials, "smtp_url": smtp_url}, is_active=True
    )
    # Notifications pick the oldest active e-mail channel: others (the demo seed's support
    # mailbox) are switched off for the bench, and back on in clean_up.
    others = Channel.objects.filter(kind="email", is_active=True).exclude(pk=channel.pk)
    switched = sorted({*_switched_off(), *others.values_list("pk", flat=True)})
    SWITCHED_OFF.write_text(json.dumps(switched), encoding="utf-8")
    others.update(is_active=False)
    return channel


def _switched_off() -> list[int]:
    try:
        return [int(pk) for pk in json.loads(SWITCHED_OFF.read_text(encoding="utf-8"))]
    except (OSError, ValueError):
        return []


def seed(n: int) -> dict[str, Any]:
    """Customers up to n with an e-mail address and alerts consent, subscribed to TOPIC."""
    started = time.perf_counter()
    made = Customer.objects.filter(name__startswith=SEED_NAME).count()
    now = clock.now()
    for offset in range(made, n, SEED_CHUNK):
        size = min(SEED_CHUNK, n - offset)
        with transaction.atomic():
            customers = Customer.objects.bulk_create(
                [
                    Customer(
                        name=f"{SEED_NAME} {offset + i}",
                        time_zone="Europe/London",
                        channel_ranking=["email"],
                        created_at=now,
                        updated_at=now,
                    )
                    for i in range(size)
                ]
            )
            ContactPoint.objects.bulk_create(
                [
                    ContactPoint(
                        customer=customer,
                        kind=ChannelKind.EMAIL,
                        value=f"notify.{offset + i}@bench.example.com",
                        verified_at=now,
                        created_at=now,
                    )
                    for i, customer in enumerate(customers)
                ]
            )
            Consent.objects.bulk_create(
                [
                    Consent(
                        customer=customer,
                        purpose=purpose,
                        granted=True,
                        changed_at=now,
                        source="import",
                    )
                    for customer in customers
                    for purpose in (Purpose.ALERTS, Purpose.TRANSACTIONAL)
                ]
            )
        log(f"seeded {offset + size:,}/{n:,} customers")
    # Exactly the first n of them follow the topic.
    first = list(
        Customer.objects.filter(name__startswith=SEED_NAME)
        .order_by("pk")
        .values_list("pk", flat=True)[:n]
    )
    Subscription.objects.filter(topic=TOPIC).exclude(customer_id__in=first).delete()
    for start in range(0, len(first), SEED_CHUNK):
        Subscription.objects.bulk_create(
            [
                Subscription(customer_id=pk, topic=TOPIC, created_at=now)
                for pk in first[start : start + SEED_CHUNK]
            ],
            ignore_conflicts=True,
        )
    subscribed = Subscription.objects.filter(topic=TOPIC).count()
    if subscribed != n:
        raise SystemExit(f"{subscribed} customers follow {TOPIC}, not {n}")
    return {"customers_added": max(0, n - made), "seconds": round(time.perf_counter() - started, 2)}


def _bench_tasks() -> Any:
    return DBTaskResult.objects.filter(task_path__in=TASK_PATHS)


def clean_up() -> None:
    """Delete the bench's events (their notifications and deliveries go with them), its outbox
    rows and timeline lines, and every task of the paths it uses."""
    events = Event.objects.filter(source_id__startswith=SOURCE_PREFIX)
    channel = Channel.objects.filter(kind="email", address=CHANNEL_ADDRESS).first()
    with transaction.atomic():
        TimelineEntry.objects.filter(
            customer__name__startswith=SEED_NAME, source="notifications"
        ).delete()
        Notification.objects.filter(event__in=events).delete()
        events.delete()
        if channel is not None:
            Outbound.objects.filter(channel=channel).delete()
        _bench_tasks().delete()
        Channel.objects.filter(pk__in=_switched_off()).update(is_active=True)
    SWITCHED_OFF.unlink(missing_ok=True)


def _fan_out(n: int) -> dict[str, Any]:
    """An event for the topic and its fan-out, in-process; the n notifications are due now."""
    clean_up()
    _channel()
    seeded = seed(n)
    actor = User.objects.filter(role="admin").order_by("pk").first()
    if actor is None:
        raise SystemExit("the bench database has no admin: run the bench seed")
    started = time.perf_counter()
    event, _ = event_accept(
        actor=actor,
        type="flight.delayed",
        source_id=f"{SOURCE_PREFIX}{uuid.uuid4().hex}",
        subject={"topic": TOPIC},
        payload={"flight": "BN100", "new_time": "14:35"},
    )
    recipients = notification_tasks.event_fan_out.call(event.pk)
    seconds = time.perf_counter() - started
    # event_accept queued the fan-out task: it is done.
    DBTaskResult.objects.filter(task_path=TASK_PATHS[0]).delete()
    log(f"fanned out {recipients:,} notifications in {seconds:.1f} s")
    due = Notification.objects.filter(event=event, deliver_after__lte=clock.now())
    return {
        "seed": seeded,
        "event": event.pk,
        "recipients": recipients,
        "fan_out_seconds": round(seconds, 2),
        "due": due.count(),
    }


def due() -> dict[str, Any]:
    """Time `notifications_due` handing n due notifications to the outbox, in-process."""
    n = _n()
    fanned = _fan_out(n)
    DBTaskResult.objects.filter(task_path=TASK_PATHS[1]).delete()
    event = fanned["event"]
    waiting = Notification.objects.filter(event_id=event, status="scheduled")
    runs = 0
    started = time.perf_counter()
    while True:
        handed = notification_tasks.notifications_due.call()
        runs += 1
        if not handed:
            break
    seconds = time.perf_counter() - started
    left = waiting.count()
    outbox = Outbound.objects.filter(channel__address=CHANNEL_ADDRESS).count()
    tasks = (
        DBTaskResult.objects.filter(task_path__in=TASK_PATHS[2:4])
        .values("task_path")
        .annotate(n=Count("id"))
        .order_by()
    )
    batch_tasks = {row["task_path"].rsplit(".", 1)[1]: row["n"] for row in tasks}
    log(
        f"notifications_due: {n:,} handed to the outbox in {seconds:.1f} s ({runs} task runs), "
        f"{outbox:,} outbox rows, send tasks {batch_tasks}"
    )
    clean_up()
    return {
        **fanned,
        "seconds": round(seconds, 2),
        "task_runs": runs,
        "left_scheduled": left,
        "outbox_rows": outbox,
        "send_tasks": batch_tasks,
    }


def setup() -> dict[str, Any]:
    """The event fanned out, `notifications_due` queued for the bench's worker."""
    fanned = _fan_out(_n())
    queued = DBTaskResult.objects.filter(task_path=TASK_PATHS[1], status="READY").count()
    if not queued:
        notification_tasks.notifications_due.enqueue()
    return fanned


def tick() -> dict[str, Any]:
    """The bench's scheduler, until SIGTERM: every second, `notifications_due` and the
    messaging sweep, each unless one is still waiting for a worker (`pocketdesk scheduler`
    would also queue every other app's periodic tasks, which only take workers from the run)."""
    from pocketdesk.messaging import tasks as messaging_tasks

    periodic = [notification_tasks.notifications_due, messaging_tasks.messaging_sweep]
    while True:
        try:
            waiting = set(
                DBTaskResult.objects.filter(status="READY").values_list("task_path", flat=True)
            )
            for task in periodic:
                if task.module_path not in waiting:
                    task.enqueue()
        except OperationalError:  # SQLite's writer busy for long: at the next tick, as the
            pass  # scheduler does
        time.sleep(1.0)


def check() -> dict[str, Any]:
    """What the run left, then clean up."""
    outbox = Outbound.objects.filter(channel__address=CHANNEL_ADDRESS)
    by_status = dict(
        outbox.values_list("status").annotate(n=Count("pk")).order_by().values_list("status", "n")
    )
    attempts = dict(
        outbox.values_list("attempts")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("attempts", "n")
    )
    events = Event.objects.filter(source_id__startswith=SOURCE_PREFIX)
    notifications = dict(
        Notification.objects.filter(event__in=events)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("status", "n")
    )
    tasks: dict[str, int] = {}
    for path, status, count in (
        _bench_tasks().values_list("task_path", "status").annotate(n=Count("id")).order_by()
    ):
        tasks[f"{path.rsplit('.', 1)[1]} {status}"] = count
    clean_up()
    return {
        "outbox": by_status,
        "attempts": {str(key): value for key, value in attempts.items()},
        "notifications": notifications,
        "tasks": tasks,
    }
