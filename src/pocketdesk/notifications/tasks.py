"""Notification tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.notifications.services import fanout

DUE_BATCHES_PER_RUN = 20


@task()
def event_fan_out(event_id: int) -> int:
    """Write the event's notifications, then hand on those already due."""
    recipients = fanout.event_fan_out(event_id=event_id)
    notifications_due.enqueue()
    return recipients


@task()
def notifications_due() -> int:
    """Periodic (and after each fan-out): hand due notifications to the outbox, a batch at a
    time, up to a bound so one run does not hold the worker for ever."""
    total = 0
    for _ in range(DUE_BATCHES_PER_RUN):
        sent = fanout.notifications_due_send()
        total += sent
        if sent < fanout.DUE_BATCH:
            break
    return total
