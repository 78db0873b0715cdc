"""Messaging tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.messaging import services


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
def messaging_sweep() -> int:
    """Periodic: retries that are due, sends and events whose task was lost."""
    outbound_ids = services.outbound_due()
    for outbound_id in outbound_ids:
        outbound_send.enqueue(outbound_id)
    event_ids = services.inbound_events_stalled()
    if event_ids:
        # By id (receipts waiting for their send are only taken that way), and a drain, which
        # also clears a drain request whose task was lost.
        inbound_events_process.enqueue(event_ids)
        inbound_drain.enqueue()
    return len(outbound_ids) + len(event_ids)
