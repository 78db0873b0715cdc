"""Run in the bench server's env: `status` or `fixture` (new agent token); prints one JSON line."""

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

AGENT_EMAIL = DEMO_LOGINS[Role.AGENT]


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


if __name__ == "__main__":
    actions = {"status": status, "fixture": fixture}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(actions)}}}")
    print(json.dumps(actions[sys.argv[1]]()))
