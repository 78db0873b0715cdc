"""The habits panel of the customer 360 page: the channel the customer answers best and the
hours they write at, each with its confidence and why, and the latest context from the
timeline (orders, shipments, bookings, registered products). Two queries, whatever the
customer has."""

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from pocketdesk.conversations.habits import channel_label
from pocketdesk.customers.selectors import customer_habits_get, timeline_recent_context
from pocketdesk.web.customer_panels import CustomerPanel, customer_panel_register

RECENT_CONTEXT = 5
HOURS_SHOWN = 3


LEVEL_LABELS = {"low": _("low"), "medium": _("medium"), "high": _("high")}


@dataclass(frozen=True)
class Confidence:
    percent: int
    level: str  # low, medium or high: a CSS hook
    label: Any  # the level in words

    @classmethod
    def of(cls, value: float) -> "Confidence":
        level = "low" if value < 0.4 else "medium" if value < 0.7 else "high"
        return cls(percent=round(value * 100), level=level, label=LEVEL_LABELS[level])


def _context(actor: Any, customer: Any) -> dict[str, Any]:
    habits = customer_habits_get(actor=actor, customer=customer)
    context: dict[str, Any] = {
        "habits": habits,
        "recent": timeline_recent_context(actor=actor, customer=customer, limit=RECENT_CONTEXT),
        "time_zone": customer.time_zone,
    }
    if habits is not None:
        context |= {
            "preferred_label": channel_label(habits.preferred_channel),
            # The channels tried, in rank order (the ranking also lists the untried ones).
            "ranking_labels": [
                channel_label(kind)
                for kind in habits.channel_ranking
                if kind in habits.channel_stats
            ],
            "hours": [
                {**entry, "until": (entry["hour"] + 1) % 24}
                for entry in habits.best_hours[:HOURS_SHOWN]
            ],
            "channel_confidence": Confidence.of(habits.channel_confidence),
            "hours_confidence": Confidence.of(habits.hours_confidence),
        }
    return context


def register_customer_panel() -> None:
    customer_panel_register(
        CustomerPanel(
            key="habits",
            title=_("Habits and context"),
            template="conversations/console/panel_habits.html",
            context=_context,
            order=15,
        )
    )
