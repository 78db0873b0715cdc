"""Notification test state, built through the real services."""

from datetime import time
from typing import Any

from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import Window, consent_set, customer_create, preferences_update
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.services import channel_create

SID = "AC" + "7" * 32
TOKEN = "twilio-token-notification-tests"
NUMBER = "+14155550177"


def twilio_channel(api_base: str = "http://127.0.0.1:9") -> Channel:
    return channel_create(
        actor=None,
        kind="twilio_sms",
        name="Alerts",
        address=NUMBER,
        credentials={"account_sid": SID, "auth_token": TOKEN},
        api_base=api_base,
    )


def customer(
    n: int,
    *,
    phone: bool = True,
    email: bool = False,
    alerts: bool | None = True,
    time_zone: str = "UTC",
    ranking: list[str] | None = None,
    windows: list[tuple[int, time, time]] | None = None,
    user: Any = None,
) -> Customer:
    """Customer number `n` (phone +4479111NNNNN), with alerts consent unless told otherwise."""
    made = customer_create(
        actor=None,
        name=f"Passenger {n}",
        phone=f"+4479111{n:05d}" if phone else None,
        email=f"passenger{n}@test.example" if email else None,
        time_zone=time_zone,
        user=user,
    )
    if alerts is not None:
        consent_set(actor=None, customer=made, purpose="alerts", granted=alerts, source="import")
    if ranking is not None or windows is not None:
        preferences_update(
            actor=None,
            customer=made,
            channel_ranking=ranking,
            send_windows=[Window(*w) for w in windows] if windows is not None else None,
        )
    return made
