"""The habits bench's work, run by bench/habits.py in its own database (Django set up here):
migrate, seed once, time `habits_learn` over everyone and an hourly `habits_refresh`; prints
one JSON line.

Seed (once, reused): CUSTOMERS customers in five time zones, one conversation each and
MESSAGES messages in all over 60 days: agent messages on SMS, WhatsApp or email, each answered
(or not) on the same channel after a delay, with odds and speeds that depend on a channel the
customer favours, in the hours they favour. Rows go in with bulk inserts, not the services:
this measures learning, not ingest.
"""

import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pocketdesk.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from pocketdesk.conversations.habits import habits_learn, habits_refresh  # noqa: E402
from pocketdesk.conversations.models import Conversation, Message  # noqa: E402
from pocketdesk.customers.models import ContactPoint, Customer, CustomerHabits  # noqa: E402
from pocketdesk.messaging.models import Channel  # noqa: E402

CUSTOMERS = int(os.environ.get("BENCH_HABITS_CUSTOMERS", "100000"))
MESSAGES = int(os.environ.get("BENCH_HABITS_MESSAGES", "1000000"))
SEED_NAME = "Habits bench"
CHUNK = 2_000
RANDOM = 11
ZONES = ["Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"]
# channel kind, contact kind
CHANNELS = [("twilio_sms", "phone"), ("whatsapp", "whatsapp"), ("email", "email")]
START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = START + timedelta(days=90)  # after every seeded message
REFRESHED = 1_000


def log(message: str) -> None:
    print(f"habits: {message}", file=sys.stderr, flush=True)


def _channels() -> dict[str, Channel]:
    made = {}
    for kind, _contact in CHANNELS:
        made[kind], _ = Channel.objects.get_or_create(
            kind=kind,
            address=f"habits-bench-{kind}",
            defaults={"name": f"Habits bench {kind}", "created_at": START},
        )
    return made


def _seed() -> dict[str, Any]:
    started = time.perf_counter()
    have = Customer.objects.filter(name__startswith=SEED_NAME).count()
    if have >= CUSTOMERS:
        return {"made": False, "seconds": 0.0}
    channels = _channels()
    rng = random.Random(RANDOM)
    per_customer = MESSAGES // CUSTOMERS
    for offset in range(have, CUSTOMERS, CHUNK):
        size = min(CHUNK, CUSTOMERS - offset)
        with transaction.atomic():
            customers = Customer.objects.bulk_create(
                Customer(
                    name=f"{SEED_NAME} {offset + i}",
                    time_zone=rng.choice(ZONES),
                    created_at=START,
                    updated_at=START,
                )
                for i in range(size)
            )
            points = []
            for customer in customers:
                n = customer.pk
                points += [
                    ContactPoint(
                        customer=customer, kind="phone", value=f"+4477{n:08d}", created_at=START
                    ),
                    ContactPoint(
                        customer=customer, kind="whatsapp", value=f"+4478{n:08d}", created_at=START
                    ),
                    ContactPoint(
                        customer=customer,
                        kind="email",
                        value=f"h{n}@bench.example.com",
                        created_at=START,
                    ),
                ]
            ContactPoint.objects.bulk_create(points, batch_size=5_000)
            conversations = Conversation.objects.bulk_create(
                Conversation(customer=c, last_message_at=START, created_at=START) for c in customers
            )
            messages = []
            for conversation in conversations:
                favourite = rng.randrange(len(CHANNELS))
                hour = rng.choice([8, 9, 12, 13, 18, 19, 21])
                at = START + timedelta(hours=rng.randrange(24 * 3))
                count = 0
                while count < per_customer:
                    index = favourite if rng.random() < 0.5 else rng.randrange(len(CHANNELS))
                    kind = CHANNELS[index][0]
                    messages.append(
                        Message(
                            conversation=conversation,
                            direction="outbound",
                            channel=channels[kind],
                            created_at=at,
                        )
                    )
                    count += 1
                    odds, minutes = (0.85, 8) if index == favourite else (0.3, 180)
                    if count < per_customer and rng.random() < odds:
                        answered = at + timedelta(minutes=rng.expovariate(1 / minutes))
                        # nudge towards the customer's hour (UTC here: close enough for data)
                        answered = answered.replace(hour=hour) if rng.random() < 0.6 else answered
                        at = max(at + timedelta(minutes=1), answered)
                        messages.append(
                            Message(
                                conversation=conversation,
                                direction="inbound",
                                channel=channels[kind],
                                created_at=at,
                            )
                        )
                        count += 1
                    at += timedelta(hours=rng.randrange(6, 24 * 12))
                conversation.last_message_at = at
            Message.objects.bulk_create(messages, batch_size=5_000)
            Conversation.objects.bulk_update(conversations, ["last_message_at"], batch_size=5_000)
        log(f"seeded {offset + size:,}/{CUSTOMERS:,} customers")
    return {"made": True, "seconds": round(time.perf_counter() - started, 1)}


def _database_version() -> str:
    sql = {"sqlite": "SELECT sqlite_version()", "postgresql": "SHOW server_version"}
    with connection.cursor() as cursor:
        cursor.execute(sql.get(connection.vendor, "SELECT version()"))
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def _timed(work: Any) -> tuple[float, int, Any]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - started
    return seconds, len(queries), result


def main() -> dict[str, Any]:
    call_command("migrate", "--no-input", "-v", "0")
    seed = _seed()
    # Fresh bulk-loaded tables have no planner statistics until autovacuum (off on some
    # servers) gets to them; without them PostgreSQL plans each chunk as a nested loop over
    # every message (minutes instead of milliseconds).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    customers = Customer.objects.filter(name__startswith=SEED_NAME).count()
    messages = Message.objects.count()
    runs = []
    for _ in range(int(os.environ.get("BENCH_RUNS", "3"))):
        seconds, queries, stored = _timed(lambda: habits_learn(None, now=NOW))
        runs.append({"seconds": round(seconds, 2), "queries": queries, "stored": stored})
        log(f"learn everyone: {seconds:.2f} s, {stored:,} customers, {queries} queries")
    # An hour later REFRESHED customers have a new message each: the hourly refresh.
    later = NOW + timedelta(hours=1)
    # (Their conversations' last_message_at moves; the messages themselves are left alone.)
    touched = dict(
        Conversation.objects.order_by("?").values_list("pk", "last_message_at")[:REFRESHED]
    )
    Conversation.objects.filter(pk__in=touched).update(
        last_message_at=later - timedelta(minutes=30)
    )
    refresh_seconds, refresh_queries, refreshed = _timed(lambda: habits_refresh(now=later))
    idle_seconds, idle_queries, idle = _timed(
        lambda: habits_refresh(now=later + timedelta(hours=1))
    )
    with transaction.atomic():  # back as seeded, for the next run
        for pk, at in touched.items():
            Conversation.objects.filter(pk=pk).update(last_message_at=at)
    log(f"refresh: {refreshed:,} customers in {refresh_seconds:.2f} s; idle: {idle_seconds:.2f} s")
    preferred = dict(
        CustomerHabits.objects.values_list("preferred_channel").annotate(n=Count("pk")).order_by()
    )
    median = statistics.median(run["seconds"] for run in runs)
    return {
        "seed": seed,
        "customers": customers,
        "messages": messages,
        "runs": runs,
        "median_seconds": median,
        "messages_per_s": round(messages / median),
        "refresh": {
            "customers": refreshed,
            "seconds": round(refresh_seconds, 2),
            "queries": refresh_queries,
            "idle_seconds": round(idle_seconds, 2),
            "idle_customers": idle,
            "idle_queries": idle_queries,
        },
        "preferred_channels": preferred,
        "database": {
            "vendor": connection.vendor,
            "version": _database_version(),
            "name": str(settings.DATABASES["default"]["NAME"]),
            "host": settings.DATABASES["default"].get("HOST") or None,
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main()))
