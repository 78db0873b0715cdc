"""Provider receipts for notifications sent through the messaging outbox: each delivery follows
its outbound message (sent, delivered, read, failed), a waiting fallback stops or goes on, and a
failure gets a line on the customer's timeline."""

from collections.abc import Sequence

from pocketdesk.core import clock
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.services import timeline_record
from pocketdesk.messaging.handlers import OutboundStatusChange
from pocketdesk.messaging.models import Outbound
from pocketdesk.notifications import tasks
from pocketdesk.notifications.models import Delivery, Notification
from pocketdesk.notifications.services.engine import delivery_status_changed

_STATUS: dict[str, str] = {
    Outbound.Status.SENT: Delivery.Status.SENT,
    Outbound.Status.DELIVERED: Delivery.Status.DELIVERED,
    Outbound.Status.READ: Delivery.Status.READ,
    Outbound.Status.UNDELIVERED: Delivery.Status.FAILED,
    Outbound.Status.FAILED: Delivery.Status.FAILED,
}


def notification_receipt(change: OutboundStatusChange) -> None:
    """Status handler (registered in apps.ready), inside messaging's transaction."""
    status = _STATUS.get(change.status)
    if status is None:
        return
    delivery = (
        Delivery.objects.select_related("notification__customer", "notification__event")
        .filter(outbound_id=change.outbound_id)
        .first()
    )
    if delivery is None:
        return
    failed_before = delivery.status == Delivery.Status.FAILED
    if delivery_status_changed(delivery, status, error=change.error_code):
        enqueue_on_commit(tasks.notifications_due)
    if status == Delivery.Status.FAILED and not failed_before:
        notification = delivery.notification
        timeline_record(
            customer=notification.customer,
            kind="notification.failed",
            summary=f"Not delivered by {delivery.channel_kind} "
            f"({change.error_code or change.status}): {notification.event.type}",
            source="notifications",
            data={
                "notification": notification.public_id,
                "channel": delivery.channel_kind,
                "error": change.error_code,
            },
        )


def notification_receipts(changes: Sequence[OutboundStatusChange]) -> None:
    """Batch status handler (messaging.handlers.status_batch_handler_register): a batch send's
    SENT receipts in two UPDATEs (a delivery still queued becomes sent; a finished notification
    still queued becomes sent, as delivery_status_changed does one by one); other receipts go
    through notification_receipt one by one."""
    sent = [c.outbound_id for c in changes if c.status == Outbound.Status.SENT]
    for change in changes:
        if change.status != Outbound.Status.SENT:
            notification_receipt(change)
    if not sent:
        return
    deliveries = Delivery.objects.filter(outbound_id__in=sent)
    notification_ids = list(deliveries.values_list("notification_id", flat=True))
    deliveries.filter(status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.SENT, updated_at=clock.now()
    )
    Notification.objects.filter(pk__in=notification_ids, status=Notification.Status.QUEUED).update(
        status=Notification.Status.SENT
    )
