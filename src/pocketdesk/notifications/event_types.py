"""The event types the app knows, each with the short plain text a customer receives. Texts
are Django template strings rendered without autoescaping (SMS and push are plain text)."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.template import Context, Engine, Template
from django.utils.translation import gettext, gettext_noop

# SMS segments are 160 GSM-7 characters; a rendered text longer than this is cut.
TEXT_MAX = 320


@dataclass(frozen=True)
class EventType:
    name: str
    title: str  # marked for translation; shown through gettext
    text: str
    # A payload key whose non-empty string value is the title instead (broadcasts).
    title_key: str = ""


EVENT_TYPES: dict[str, EventType] = {
    item.name: item
    for item in (
        EventType(
            "flight.delayed",
            gettext_noop("Flight delayed"),
            "Your flight {{ payload.flight }} is delayed to {{ payload.new_time }}.",
        ),
        EventType(
            "order.ready_for_pickup",
            gettext_noop("Order ready"),
            "Your order {{ payload.order }} is ready for pickup"
            "{% if payload.location %} at {{ payload.location }}{% endif %}.",
        ),
        EventType(
            "account.low_balance",
            gettext_noop("Low balance"),
            "Your balance is low: {{ payload.balance }}.",
        ),
        EventType(
            "usage.threshold_exceeded",
            gettext_noop("Usage alert"),
            "You have used {{ payload.used }} of {{ payload.limit }}.",
        ),
        EventType(
            "maintenance.due",
            gettext_noop("Maintenance due"),
            "Maintenance is due for {{ payload.product }}"
            "{% if payload.due %} on {{ payload.due }}{% endif %}.",
        ),
        EventType(
            "recall.notice",
            gettext_noop("Safety recall"),
            "Safety recall for {{ payload.product }}. {{ payload.action }}",
        ),
        # Staff broadcasts to a segment: the text and title are the staff member's own.
        EventType("broadcast", gettext_noop("Announcement"), "{{ payload.text }}", "title"),
    )
}

BROADCAST = "broadcast"

_engine = Engine(autoescape=False)


@cache
def _template(source: str) -> Template:
    return _engine.from_string(source)


def event_text(type_: str, payload: Mapping[str, Any]) -> str:
    """The customer-facing text for an event, on one line and at most TEXT_MAX characters."""
    event_type = EVENT_TYPES.get(type_)
    if event_type is None:
        return type_
    # A Context autoescapes unless told not to, whatever the engine says: plain text here.
    rendered = _template(event_type.text).render(
        Context({"payload": dict(payload)}, autoescape=False)
    )
    text = " ".join(rendered.split())
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def event_title(type_: str, payload: Mapping[str, Any]) -> str:
    """The title of an event in the active language: the payload's own title where the type
    takes one (broadcasts), else the type's translated title, else the type's name."""
    event_type = EVENT_TYPES.get(type_)
    if event_type is None:
        return type_
    if event_type.title_key:
        own = payload.get(event_type.title_key)
        if isinstance(own, str) and own.strip():
            return " ".join(own.split())[:200]
    return gettext(event_type.title)
