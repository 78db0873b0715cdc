"""Notification tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.core import clock
from pocketdesk.notifications.services import engine, fanout, reminders

DUE_BATCHES_PER_RUN = 20


@task()
def event_fan_out(event_id: int) -> int:
    """Write the event's notifications, then hand on those already due."""
    recipients = fanout.event_fan_out(event_id=event_id)
    notifications_due.enqueue()
    return recipients


@task()
def notifications_due() -> int:
    """Periodic (and after each fan-out, receipt or read): finish fan-outs whose task was lost,
    then run due workflow steps, a batch at a time, up to a bound so one run does not hold the
    worker for ever."""
    for event_id in fanout.events_fan_out_stalled(now=clock.now()):
        fanout.event_fan_out(event_id=event_id)
    total = 0
    for _ in range(DUE_BATCHES_PER_RUN):
        sent = engine.notifications_due_send()
        total += sent
        if sent < engine.DUE_BATCH:
            break
    return total


@task()
def reminders_due() -> int:
    """Periodic: fire the customers' reminders whose time has come, a batch at a time, up to a
    bound; each occurrence fires once however often this runs."""
    total = 0
    for _ in range(DUE_BATCHES_PER_RUN):
        fired = reminders.reminders_fire_due()
        total += fired
        if fired < reminders.FIRE_BATCH:
            break
    return total
