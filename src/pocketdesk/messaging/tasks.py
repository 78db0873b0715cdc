"""Messaging tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.messaging import services


@task()
def inbound_event_process(event_id: int) -> str:
    return services.inbound_event_process(event_id=event_id).state


@task()
def outbound_send(outbound_id: int) -> str:
    outbound, early_receipts = services.outbound_attempt(outbound_id=outbound_id)
    for event_id in early_receipts:
        inbound_event_process.enqueue(event_id)
    return outbound.status


@task()
def messaging_sweep() -> int:
    """Periodic: retries that are due, sends and events whose task was lost."""
    outbound_ids = services.outbound_due()
    for outbound_id in outbound_ids:
        outbound_send.enqueue(outbound_id)
    event_ids = services.inbound_events_stalled()
    for event_id in event_ids:
        inbound_event_process.enqueue(event_id)
    return len(outbound_ids) + len(event_ids)
