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
        kind__in=PHONE_KINDS, value=DEMO_CUSTOMER_PHONE
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


if __name__ == "__main__":
    actions = {"status": status, "fixture": fixture, "link": link, "visits": visits}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(actions)}}}")
    print(json.dumps(actions[sys.argv[1]]()))
