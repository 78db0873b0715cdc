"""The customer's in-app bell: read state."""

from django.db import transaction

from pocketdesk.accounts.models import User
from pocketdesk.core import clock
from pocketdesk.core.errors import NotFound
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.notifications import tasks
from pocketdesk.notifications.models import Notification
from pocketdesk.notifications.services.engine import notification_seen


def notification_read(*, actor: User, notification: Notification) -> Notification:
    """Mark one of the actor's notifications read; the first read time is kept. A read stops a
    waiting fallback (the customer saw it in the app)."""
    if notification.customer.user_id != actor.pk:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        with transaction.atomic():
            marked = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
                read_at=clock.now()
            )
            if marked and notification_seen(notification):
                enqueue_on_commit(tasks.notifications_due)
        notification.refresh_from_db(fields=["read_at"])
    return notification
