"""Pushes to a user's open websockets, from any process (HTTP workers, task workers)."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_public_id: str) -> str:
    return f"user.{user_public_id}"


# Every signed-in agent's and admin's sockets: the live inbox.
STAFF_GROUP = "staff"


def _push_on_commit(group: str, event: str, data: dict[str, Any]) -> None:
    message = {"type": "event.push", "event": event, "data": data}

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, message)

    # robust: a websocket layer that is down must not stop the hooks after it (a send task).
    transaction.on_commit(send, robust=True)


def realtime_push(*, user_public_id: str, event: str, data: dict[str, Any]) -> None:
    """Send `{"event", "data"}` to every websocket the user has open, after commit."""
    _push_on_commit(user_group(user_public_id), event, data)


def realtime_push_staff(*, event: str, data: dict[str, Any]) -> None:
    """Send `{"event", "data"}` to every open staff socket (agents and admins), after commit."""
    _push_on_commit(STAFF_GROUP, event, data)
