"""The customer's in-app bell: read state."""

from pocketdesk.accounts.models import User
from pocketdesk.core import clock
from pocketdesk.core.errors import NotFound
from pocketdesk.notifications.models import Notification


def notification_read(*, actor: User, notification: Notification) -> Notification:
    """Mark one of the actor's notifications read; the first read time is kept."""
    if notification.customer.user_id != actor.pk:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=clock.now()
        )
        notification.refresh_from_db(fields=["read_at"])
    return notification
