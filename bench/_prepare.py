"""Run in the bench server's env: `status`, `fixture` (new agent token), `link` (the redirect
bench's link, made afresh) or `visits` (what the server recorded for it); prints one JSON line."""

import json
import os
import sys
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pocketdesk.settings")
django.setup()

import phonenumbers  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from pocketdesk.accounts.models import Role, User  # noqa: E402
from pocketdesk.accounts.services import api_token_create  # noqa: E402
from pocketdesk.customers.models import PHONE_KINDS, ContactPoint, Customer  # noqa: E402
from pocketdesk.demo.seed import DEMO_CUSTOMER_PHONE, DEMO_LOGINS  # noqa: E402
from pocketdesk.links.models import Link, Visit  # noqa: E402
from pocketdesk.links.services import link_create  # noqa: E402

AGENT_EMAIL = DEMO_LOGINS[Role.AGENT]
# The redirect bench's link: two rules a scan from an English-speaking Android phone does not
# match (the second only on its last condition), so every scan ends at the fallback target.
LINK_CODE = "bench-redirect"
LINK_TARGET = "https://example.com/setup"
LINK_RULES = [
    {
        "target_url": "https://apps.apple.com/app/id1",
        "conditions": [{"type": "device", "value": "ios"}],
    },
    {
        "target_url": "https://example.com/fr/android",
        "conditions": [
            {"type": "device", "value": "android"},
            {"type": "language", "value": "fr"},
        ],
    },
]


def database() -> dict[str, Any]:
    version_sql = {"sqlite": "SELECT sqlite_version()", "postgresql": "SHOW server_version"}
    with connection.cursor() as cursor:
        cursor.execute(version_sql.get(connection.vendor, "SELECT version()"))
        row = cursor.fetchone()
    db = settings.DATABASES["default"]
    return {
        "vendor": connection.vendor,
        "version": str(row[0]) if row else None,
        "name": str(db["NAME"]),
        "host": db.get("HOST") or None,
        "from_database_url": "DATABASE_URL" in os.environ,
    }


def status() -> dict[str, Any]:
    """What the database holds, read before anything (even migrate) writes to it."""
    tables = set(connection.introspection.table_names())
    ours = {model._meta.db_table for model in (User, Customer, ContactPoint)} <= tables
    return {
        "tables": len(tables),
        "pocketdesk_tables": ours,
        "customers": Customer.objects.count() if ours else 0,
        "users": User.objects.count() if ours else 0,
        "agent": ours and User.objects.filter(email=AGENT_EMAIL).exists(),
        "demo_customer": ours and ContactPoint.objects.filter(value=DEMO_CUSTOMER_PHONE).exists(),
        "database": database(),
    }


def fixture() -> dict[str, Any]:
    """A new token for the demo agent, and the demo customer the phone lookup must find."""
    agent = User.objects.get(email=AGENT_EMAIL)
    _, token = api_token_create(actor=agent, user=agent, name="bench")
    point = ContactPoint.objects.select_related("customer").get(
        kind="phone", value=DEMO_CUSTOMER_PHONE
    )
    national = phonenumbers.format_number(
        phonenumbers.parse(DEMO_CUSTOMER_PHONE), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    return {
        "token": token,
        "customer_id": point.customer.public_id,
        "phone_e164": DEMO_CUSTOMER_PHONE,
        "phone_query": national,
        "customers": Customer.objects.count(),
        "database": database(),
    }


def link() -> dict[str, Any]:
    """The redirect bench's link, made afresh: an earlier run's link and visits are deleted, so
    the visits counted afterwards are this run's."""
    Visit.objects.filter(code=LINK_CODE).delete()
    Link.objects.filter(code=LINK_CODE).delete()
    made = link_create(actor=None, target_url=LINK_TARGET, code=LINK_CODE, rules=LINK_RULES)
    return {
        "code": made.code,
        "target_url": made.target_url,
        "rules": made.rules.count(),
        "database": database(),
    }


def visits() -> dict[str, Any]:
    """What the server recorded for the redirect bench's link."""
    recorded = Visit.objects.filter(code=LINK_CODE)
    return {
        "visits": recorded.count(),
        "redirects": recorded.filter(outcome="redirect").count(),
        "bots": recorded.filter(is_bot=True).count(),
        "visit_count": Link.objects.get(code=LINK_CODE).visit_count,
    }


# The ingest bench's Twilio number and credentials (a bench-only channel).
INGEST_NUMBER = "+14155550188"
INGEST_ACCOUNT = "AC" + "b" * 32
INGEST_TOKEN = "bench-ingest-auth-token"  # noqa: S105 - a bench-only channel on loopback
INGEST_SENDERS = 2_000


def ingest() -> dict[str, Any]:
    """The ingest bench's channel (made once), the phones of seeded customers to write from,
    an agent session for the websocket, and the stored counts before the run."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from pocketdesk.conversations.models import Message
    from pocketdesk.messaging.models import Channel, InboundEvent
    from pocketdesk.messaging.services import channel_create

    channel = Channel.objects.filter(kind="twilio_sms", address=INGEST_NUMBER).first()
    if channel is None:
        channel = channel_create(
            actor=None,
            kind="twilio_sms",
            name="Bench ingest",
            address=INGEST_NUMBER,
            credentials={"account_sid": INGEST_ACCOUNT, "auth_token": INGEST_TOKEN},
        )
    phones = list(
        ContactPoint.objects.filter(kind__in=PHONE_KINDS)
        .order_by("pk")
        .values_list("value", flat=True)[:INGEST_SENDERS]
    )
    agent = User.objects.get(email=AGENT_EMAIL)
    session = SessionStore()
    session[SESSION_KEY] = str(agent.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
    session.create()
    return {
        "number": INGEST_NUMBER,
        "account_sid": INGEST_ACCOUNT,
        "auth_token": INGEST_TOKEN,
        "phones": phones,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "session_key": session.session_key,
        "events": InboundEvent.objects.filter(channel=channel).count(),
        "messages": Message.objects.filter(channel=channel).count(),
        "pending": InboundEvent.objects.filter(channel=channel, state="pending").count(),
        "database": database(),
    }


INBOX_CONVERSATIONS = 100_000
INBOX_MESSAGES_PER_CONVERSATION = 10


def inbox() -> dict[str, Any]:
    """The inbox bench's history (made once): 100,000 conversations of the seeded customers
    with 10 messages each (1,000,000), a fifth assigned to the demo agent, over the last year;
    plus an agent token and session."""
    import random
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from pocketdesk.conversations.models import Conversation, Message
    from pocketdesk.core import clock

    agent = User.objects.get(email=AGENT_EMAIL)
    made = Conversation.objects.count()
    if made < INBOX_CONVERSATIONS:
        rng = random.Random(SEED_INBOX)
        customers = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
        now = clock.now()
        statuses = ["open", "open", "pending", "resolved", "resolved", "snoozed"]
        texts = [
            "Where is my parcel?",
            "The app does not let me log in.",
            "Can I change my delivery address?",
            "Thanks, that worked!",
            "I was charged twice for my order.",
        ]
        for start in range(made, INBOX_CONVERSATIONS, 5_000):
            with transaction.atomic():
                batch = []
                for i in range(start, min(start + 5_000, INBOX_CONVERSATIONS)):
                    last = now - timedelta(minutes=rng.randrange(0, 525_600))
                    batch.append(
                        Conversation(
                            customer_id=customers[i % len(customers)],
                            status=rng.choice(statuses),
                            assignee=agent if i % 5 == 0 else None,
                            last_message_at=last,
                            unread_count=rng.randrange(0, 3),
                            created_at=last - timedelta(hours=2),
                        )
                    )
                conversations = Conversation.objects.bulk_create(batch)
                Message.objects.bulk_create(
                    [
                        Message(
                            conversation=conversation,
                            direction="inbound" if n % 2 == 0 else "outbound",
                            text=texts[(conversation.pk + n) % len(texts)],
                            created_at=conversation.created_at + timedelta(minutes=12 * n),
                        )
                        for conversation in conversations
                        for n in range(INBOX_MESSAGES_PER_CONVERSATION)
                    ],
                    batch_size=10_000,
                )
            print(f"inbox: {start + len(batch)} conversations", file=sys.stderr)
    session = SessionStore()
    session[SESSION_KEY] = str(agent.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
    session.create()
    _, token = api_token_create(actor=agent, user=agent, name="bench inbox")
    thread = Conversation.objects.filter(assignee=agent).order_by("-last_message_at").first()
    return {
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "session_key": session.session_key,
        "token": token,
        "thread": thread.public_id if thread else None,
        "database": database(),
    }


SEED_INBOX = 11


def fanout() -> dict[str, Any]:
    """The fanout bench: 100,000 subscribers seeded once, timed fan-outs (bench/_fanout_job.py)."""
    from _fanout_job import fanout_run

    sms = (INGEST_NUMBER, INGEST_ACCOUNT, INGEST_TOKEN)
    return fanout_run(agent_email=AGENT_EMAIL, database=database, sms=sms)


def notify_email(action: str) -> dict[str, Any]:
    """The notify_email bench's steps (bench/_notify_email_job.py)."""
    import _notify_email_job

    result: dict[str, Any] = getattr(_notify_email_job, action)()
    return {**result, "database": database()}


if __name__ == "__main__":
    actions = {
        "status": status,
        "fixture": fixture,
        "link": link,
        "visits": visits,
        "ingest": ingest,
        "inbox": inbox,
        "fanout": fanout,
        **{
            f"notify_email_{step}": (lambda step=step: notify_email(step))
            for step in ("due", "setup", "tick", "check")
        },
    }
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(actions)}}}")
    print(json.dumps(actions[sys.argv[1]]()))
