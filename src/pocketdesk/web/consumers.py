"""Websocket endpoints served by the ASGI process."""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class PingConsumer(AsyncJsonWebsocketConsumer):
    """Answers `{"type": "ping"}` with `{"type": "pong", "user": <role or null>}`: a liveness
    check for the websocket process and the session it sees."""

    async def connect(self) -> None:
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            user = self.scope.get("user")
            role = getattr(user, "role", None) if user and user.is_authenticated else None
            await self.send_json({"type": "pong", "user": role})
        else:
            await self.send_json({"type": "error", "code": "unknown_message"})
