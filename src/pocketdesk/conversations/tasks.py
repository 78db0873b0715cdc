"""Conversation tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.conversations import habits
from pocketdesk.conversations.services import callback_invites, callback_sweep, health, inbox
from pocketdesk.core import clock


@task()
def snoozed_wake() -> int:
    """Periodic: reopen snoozed conversations whose time has come."""
    return inbox.conversations_snoozed_wake()


@task()
def callbacks_sweep() -> dict[str, int]:
    """Periodic: callback reminders, due callbacks to the top of the inbox, missed ones
    re-offered."""
    return callback_sweep.callbacks_sweep()


@task()
def callback_invite_send(callback_id: int, method: str = "REQUEST") -> bool:
    """E-mail a booked callback's iCalendar invitation (or its cancellation)."""
    return callback_invites.callback_invite_send(callback_id=callback_id, method=method)


@task()
def habits_refresh() -> int:
    """Periodic (hourly): re-learn the habits of customers with new messages since their last
    computation."""
    return habits.habits_refresh(now=clock.now())


@task()
def health_sweep() -> int:
    """Periodic: score conversations changed since they were last scored, and open ones whose
    customer may be waiting."""
    return health.conversations_health_sweep()
