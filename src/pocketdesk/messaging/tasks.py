"""Messaging tasks: take ids, re-read, idempotent."""

from django.tasks import task

from pocketdesk.messaging import services


@task()
def inbound_event_process(event_id: int) -> str:
    return services.inbound_event_process(event_id=event_id).state
