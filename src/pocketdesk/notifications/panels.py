"""The notifications panel of the customer 360 page: the latest notifications and every
delivery attempt with its status."""

from typing import Any

from django.utils.translation import gettext_lazy as _

from pocketdesk.notifications.selectors import customer_notifications_recent
from pocketdesk.web.customer_panels import CustomerPanel, customer_panel_register


def _context(actor: Any, customer: Any) -> dict[str, Any]:
    return {"notifications": customer_notifications_recent(actor=actor, customer=customer)}


def register_customer_panel() -> None:
    customer_panel_register(
        CustomerPanel(
            key="notifications",
            title=_("Notifications"),
            template="notifications/console/panel_360.html",
            context=_context,
            order=20,
        )
    )
