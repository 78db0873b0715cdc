"""Conversation tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.conversations.services import inbox


@task()
def snoozed_wake() -> int:
    """Periodic: reopen snoozed conversations whose time has come."""
    return inbox.conversations_snoozed_wake()
