"""Pushes to a user's open websockets, from any process (HTTP workers, task workers)."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_public_id: str) -> str:
    return f"user.{user_public_id}"


def realtime_push(*, user_public_id: str, event: str, data: dict[str, Any]) -> None:
    """Send `{"event", "data"}` to every websocket the user has open, after commit."""
    message = {"type": "event.push", "event": event, "data": data}

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(user_group(user_public_id), message)

    transaction.on_commit(send)
