"""Provider receipts for notifications sent through the messaging outbox: the notification
follows its outbound message (sent, delivered, failed), so the bell, the API and the customer's
timeline say what became of it."""

from pocketdesk.customers.services import timeline_record
from pocketdesk.messaging.handlers import OutboundStatusChange
from pocketdesk.messaging.models import Outbound
from pocketdesk.notifications.models import Notification

# Outbound status → notification status; read counts as delivered.
_STATUS: dict[str, str] = {
    Outbound.Status.SENT: Notification.Status.SENT,
    Outbound.Status.DELIVERED: Notification.Status.DELIVERED,
    Outbound.Status.READ: Notification.Status.DELIVERED,
    Outbound.Status.UNDELIVERED: Notification.Status.FAILED,
    Outbound.Status.FAILED: Notification.Status.FAILED,
}
# A notification's status only moves forward; failures are final.
_RANK: dict[str, int] = {
    Notification.Status.QUEUED: 0,
    Notification.Status.SENT: 1,
    Notification.Status.DELIVERED: 2,
    Notification.Status.FAILED: 3,
}


def notification_receipt(change: OutboundStatusChange) -> None:
    """Status handler (registered in apps.ready), inside messaging's transaction."""
    status = _STATUS.get(change.status)
    if status is None:
        return
    notification = (
        Notification.objects.select_related("customer", "event")
        .filter(outbound_id=change.outbound_id)
        .first()
    )
    if notification is None or notification.status not in _RANK:
        return
    if _RANK[status] <= _RANK[notification.status]:
        return
    Notification.objects.filter(pk=notification.pk).update(status=status)
    if status == Notification.Status.FAILED:
        timeline_record(
            customer=notification.customer,
            kind="notification.failed",
            summary=f"Not delivered ({change.error_code or change.status}): "
            f"{notification.event.type}",
            source="notifications",
            data={"notification": notification.public_id, "error": change.error_code},
        )
