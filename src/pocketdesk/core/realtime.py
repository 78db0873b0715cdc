"""Pushes to a user's open websockets, from any process (HTTP workers, task workers)."""

from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_public_id: str) -> str:
    return f"user.{user_public_id}"


# Every signed-in agent's and admin's sockets: the live inbox.
STAFF_GROUP = "staff"


# (group, event, data): one push.
Push = tuple[str, str, dict[str, Any]]


async def _send_all(layer: Any, pushes: Sequence[Push]) -> None:
    for group, event, data in pushes:
        await layer.group_send(group, {"type": "event.push", "event": event, "data": data})


def realtime_push_many(pushes: Sequence[Push]) -> None:
    """Send many pushes after commit in one go (one event-loop hop for a whole batch)."""
    if not pushes:
        return
    batch = list(pushes)

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(_send_all)(layer, batch)

    # robust: a websocket layer that is down must not stop the hooks after it (a send task).
    transaction.on_commit(send, robust=True)


def _push_on_commit(group: str, event: str, data: dict[str, Any]) -> None:
    realtime_push_many([(group, event, data)])


def realtime_push(*, user_public_id: str, event: str, data: dict[str, Any]) -> None:
    """Send `{"event", "data"}` to every websocket the user has open, after commit."""
    _push_on_commit(user_group(user_public_id), event, data)


def realtime_push_staff(*, event: str, data: dict[str, Any]) -> None:
    """Send `{"event", "data"}` to every open staff socket (agents and admins), after commit."""
    _push_on_commit(STAFF_GROUP, event, data)
