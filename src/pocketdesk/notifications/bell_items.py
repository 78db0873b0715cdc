"""What the customer's bell shows for a notification: its text, and where it is in words
("Sent by SMS", "Waiting for your quiet hours to end"), all translatable."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from pocketdesk.core import clock
from pocketdesk.customers.models import ChannelKind
from pocketdesk.notifications.event_types import event_title
from pocketdesk.notifications.models import IN_APP, Notification
from pocketdesk.notifications.texts import text_renderer

if TYPE_CHECKING:  # django-stubs-ext is a dev dependency
    from django_stubs_ext import StrOrPromise

CHANNEL_NAMES: dict[str, "StrOrPromise"] = {
    ChannelKind.PHONE: gettext_lazy("SMS"),
    ChannelKind.WHATSAPP: gettext_lazy("WhatsApp"),
    ChannelKind.EMAIL: gettext_lazy("email"),
    ChannelKind.WEBPUSH: gettext_lazy("push notification"),
    ChannelKind.MESSENGER: gettext_lazy("Messenger"),
    ChannelKind.INSTAGRAM: gettext_lazy("Instagram"),
    ChannelKind.SOCIAL: gettext_lazy("social media"),
}
SKIP_REASONS: dict[str, "StrOrPromise"] = {
    "no_alerts_consent": gettext_lazy("Not sent: you have not allowed alerts"),
    "no_contact": gettext_lazy("Not sent: we have no way to reach you"),
    "no_consent": gettext_lazy("Not sent: you have not allowed alerts"),
    "no_marketing_consent": gettext_lazy("Not sent: you have not allowed offers"),
    "throttled": gettext_lazy("Not sent: you had enough of these for now"),
}


@dataclass(frozen=True)
class BellItem:
    public_id: str
    title: str
    text: str
    state: str
    # "waiting", "skipped", "failed" or "sent": a CSS hook and a test hook.
    state_kind: str
    unread: bool
    created_at: datetime
    waiting_until: datetime | None


def notification_state(notification: Notification, *, now: datetime) -> tuple[str, str]:
    """(the sentence for the notification's state, its kind)."""
    status = notification.status
    channel = CHANNEL_NAMES.get(notification.channel_kind, notification.channel_kind)
    if status == Notification.Status.SKIPPED:
        return str(SKIP_REASONS.get(notification.skip_reason, _("Not sent"))), "skipped"
    if status == Notification.Status.SCHEDULED:
        if notification.deliver_after > now:
            return _("Waiting for your quiet hours to end"), "waiting"
        return _("About to be sent"), "waiting"
    if status == Notification.Status.DIGESTED:
        return _("Included in a summary"), "sent"
    if notification.channel_kind == IN_APP:
        return _("In the app"), "sent"
    if status in (Notification.Status.QUEUED, Notification.Status.WAITING):
        return _("Sending by %(channel)s") % {"channel": channel}, "sent"
    if status == Notification.Status.DELIVERED:
        return _("Delivered by %(channel)s") % {"channel": channel}, "sent"
    if status == Notification.Status.FAILED:
        return _("Could not be sent by %(channel)s") % {"channel": channel}, "failed"
    return _("Sent by %(channel)s") % {"channel": channel}, "sent"


def bell_items(notifications: Iterable[Notification]) -> list[BellItem]:
    now = clock.now()
    renderer = text_renderer()
    language = get_language() or ""
    items = []
    for notification in notifications:
        event = notification.event
        state, kind = notification_state(notification, now=now)
        items.append(
            BellItem(
                public_id=notification.public_id,
                title=event_title(event.type, event.payload),
                text=renderer.render(
                    event_type=event.type,
                    payload=event.payload,
                    channel_kind=IN_APP,
                    language=language,
                ).body,
                state=state,
                state_kind=kind,
                unread=notification.read_at is None,
                created_at=notification.created_at,
                waiting_until=notification.deliver_after
                if notification.status == Notification.Status.SCHEDULED
                and notification.deliver_after > now
                else None,
            )
        )
    return items
