"""Websocket endpoints served by the ASGI process."""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from pocketdesk.core.realtime import STAFF_GROUP, user_group

UNAUTHENTICATED = 4401


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


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """A signed-in user's live events (`core.realtime.realtime_push`), on all their devices."""

    groups_joined: tuple[str, ...] = ()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        groups = [user_group(user.public_id)]
        if user.is_support_staff:
            groups.append(STAFF_GROUP)
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = tuple(groups)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def event_push(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], "data": message["data"]})
