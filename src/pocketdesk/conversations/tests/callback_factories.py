"""Callback test state through the real services: a team keeping England's holidays, open
Monday to Friday 09:00–17:00 London time, and customers writing in by SMS."""

import re
from datetime import UTC, datetime, time
from typing import Any

from pocketdesk.conversations.models import Conversation, Message, Team
from pocketdesk.conversations.services.callback_slots import Hours, team_create
from pocketdesk.conversations.tests.factories import customer_says
from pocketdesk.messaging.models import Channel, Outbound

# Monday 2 March 2026, 08:00 in London (GMT, so 08:00 UTC too).
MONDAY_8AM = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WEEKDAYS_9_TO_5 = [Hours(day, time(9), time(17)) for day in range(5)]
LINK = re.compile(r"https?://\S+/app/(?:callback|switch)/([A-Za-z0-9_-]+)/")


def london_team(**overrides: Any) -> Team:
    options: dict[str, Any] = {
        "name": "Support",
        "time_zone": "Europe/London",
        "holiday_country": "GB",
        "holiday_subdivision": "ENG",
        "hours": WEEKDAYS_9_TO_5,
    }
    options.update(overrides)
    return team_create(actor=None, **options)


def sms_conversation(
    make_customer: Any, channel: Channel, *, phone: str = "+44 7911 123456", **customer: Any
) -> Conversation:
    person = make_customer(phone=phone, **customer)
    return customer_says(
        person, "Please call me, this is too long for texts", channel=channel
    ).conversation


def sent_text(message: Message | None) -> str:
    """What went out to the customer (the outbox keeps the text with any link)."""
    assert message is not None
    assert message.outbound_id is not None
    return Outbound.objects.get(pk=message.outbound_id).text


def link_token(message: Message | None) -> str:
    found = LINK.search(sent_text(message))
    assert found, sent_text(message)
    return found.group(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
