"""Websocket endpoints served by the ASGI process."""

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from pocketdesk.conversations.customer_selectors import (
    TypingAudience,
    conversation_typing_audience,
    customer_conversation_get,
)
from pocketdesk.conversations.services.webchat import customer_conversation_read
from pocketdesk.core.errors import DomainError
from pocketdesk.core.realtime import STAFF_GROUP, user_group

UNAUTHENTICATED = 4401
# A typing signal is relayed at most this often per conversation and socket.
TYPING_EVERY = 2.0
PUBLIC_ID_MAX = 40


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


def _read(user: Any, public_id: str) -> None:
    conversation = customer_conversation_get(actor=user, public_id=public_id)
    customer_conversation_read(actor=user, conversation=conversation)


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """A signed-in user's live events (`core.realtime.realtime_push`), on all their devices.

    Clients send `{"type": "typing", "conversation": id}` (relayed to the other side: a
    customer's to the staff sockets, an agent's to the customer's) and, from the customer's
    app, `{"type": "read", "conversation": id}`."""

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
        self.audiences: dict[str, TypingAudience] = {}
        self.typing_sent: dict[str, float] = {}
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def event_push(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], "data": message["data"]})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        public_id = content.get("conversation") if isinstance(content, dict) else None
        if kind not in {"typing", "read"}:
            await self.send_json({"type": "error", "code": "unknown_message"})
            return
        if not isinstance(public_id, str) or not 0 < len(public_id) <= PUBLIC_ID_MAX:
            await self.send_json({"type": "error", "code": "bad_conversation"})
            return
        if kind == "typing":
            await self._typing(public_id)
        else:
            await self._read(public_id)

    async def _typing(self, public_id: str) -> None:
        now = time.monotonic()
        if now - self.typing_sent.get(public_id, -TYPING_EVERY) < TYPING_EVERY:
            return
        user = self.scope["user"]
        audience = self.audiences.get(public_id)
        if audience is None:
            audience = await database_sync_to_async(conversation_typing_audience)(
                actor=user, public_id=public_id
            )
            if audience is None:
                await self.send_json({"type": "error", "code": "not_found"})
                return
            self.audiences[public_id] = audience
        self.typing_sent[public_id] = now
        if user.is_support_staff:
            if audience.customer_user is None:
                return
            group = user_group(audience.customer_user)
            data = {"conversation": audience.conversation, "who": "agent"}
        else:
            group = STAFF_GROUP
            data = {
                "conversation": audience.conversation,
                "who": "customer",
                "name": audience.customer_name,
            }
        await self.channel_layer.group_send(
            group, {"type": "event.push", "event": "typing", "data": data}
        )

    async def _read(self, public_id: str) -> None:
        try:
            await database_sync_to_async(_read)(self.scope["user"], public_id)
        except DomainError as error:
            await self.send_json({"type": "error", "code": error.code})
