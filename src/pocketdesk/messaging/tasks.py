"""Messaging tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.messaging import services
from pocketdesk.messaging.models import Outbound


@task()
def inbound_drain() -> int:
    return services.inbound_drain()


def inbound_stored(created: bool) -> None:
    """After a webhook stored its events (committed): wake the drain unless it is already
    asked for. Every webhook view calls this, with whether anything new was stored."""
    if created and services.inbound_drain_request():
        inbound_drain.enqueue()


@task()
def inbound_events_process(event_ids: list[int]) -> int:
    return services.inbound_events_process(event_ids=event_ids)


@task()
def outbound_send(outbound_id: int) -> str:
    outbound, early_receipts = services.outbound_attempt(outbound_id=outbound_id)
    if early_receipts:
        inbound_events_process.enqueue(early_receipts)
    return outbound.status


@task()
def outbound_send_batch(outbound_ids: list[int]) -> int:
    """Send many outbox rows in one task (e-mail over one SMTP connection). Rows it did not
    get to before its deadline go to a new task. Returns how many it sent."""
    batch = services.outbound_attempt_many(outbound_ids=outbound_ids)
    if batch.early_receipts:
        inbound_events_process.enqueue(batch.early_receipts)
    if batch.untried:
        outbound_send_batch.enqueue(batch.untried)
    return sum(outbound.status == Outbound.Status.SENT for outbound in batch.outbounds)


# Outbox rows the sweeper hands to one batch task.
SWEEP_SEND_BATCH = 100


@task()
def messaging_sweep() -> int:
    """Periodic: retries that are due, sends and events whose task was lost."""
    outbound_ids = services.outbound_due()
    for start in range(0, len(outbound_ids), SWEEP_SEND_BATCH):
        outbound_send_batch.enqueue(outbound_ids[start : start + SWEEP_SEND_BATCH])
    event_ids = services.inbound_events_stalled()
    if event_ids:
        # By id (receipts waiting for their send are only taken that way), and a drain, which
        # also clears a drain request whose task was lost.
        inbound_events_process.enqueue(event_ids)
        inbound_drain.enqueue()
    return len(outbound_ids) + len(event_ids)
