"""The "Notifications" section of the customer home: the latest few, unread ones highlighted."""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from pocketdesk.notifications import selectors
from pocketdesk.notifications.bell_items import bell_items
from pocketdesk.web.home import HomeSection, home_section_register

RECENT = 5


def _notifications(request: HttpRequest, customer: Any) -> dict[str, Any] | None:
    actor = request.user
    items = bell_items(selectors.notification_list(actor=actor, limit=RECENT))  # type: ignore[arg-type]
    if not items:
        return None
    return {
        "items": items,
        "unread": selectors.notification_unread_count(actor=actor),  # type: ignore[arg-type]
    }


def register_home_section() -> None:
    home_section_register(
        HomeSection(
            key="notifications",
            title=_("Notifications"),
            template="notifications/app/home_section.html",
            context=_notifications,
            order=5,
        )
    )
