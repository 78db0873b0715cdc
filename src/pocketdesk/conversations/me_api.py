"""The customer's conversations API (/api/v1/me/conversations): their own threads, the messages
they may see (never internal notes), writing (a message, or a request to be called back) with
an app-generated `client_id` (a replay answers 200 with the stored message), and read
receipts."""

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import CursorPagination, paginate
from pydantic import Field

from pocketdesk.accounts.auth import customer_auth
from pocketdesk.conversations import customer_selectors as selectors
from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services import webchat as services

router = Router(tags=["me"], auth=customer_auth)


class ConversationOut(Schema):
    id: str = Field(alias="public_id")
    status: str
    preview: str | None = Field(description="The last message's text.")
    unread_replies: int = Field(description="Support's messages since the customer last read.")
    last_message_at: datetime
    customer_read_at: datetime | None
    created_at: datetime


class ChatMessageOut(Schema):
    id: str = Field(alias="public_id")
    conversation: str = Field(alias="conversation.public_id")
    sender: Literal["customer", "support"]
    kind: str
    text: str
    client_id: str | None = Field(description="The app's id of a message the customer wrote.")
    created_at: datetime

    @staticmethod
    def resolve_sender(obj: Message) -> str:
        return "customer" if obj.direction == Message.Direction.INBOUND else "support"

    @staticmethod
    def resolve_client_id(obj: Message) -> str | None:
        return obj.client_id if obj.direction == Message.Direction.INBOUND else None


class ConversationDetailOut(ConversationOut):
    messages: list[ChatMessageOut] = Field(alias="messages_shown")


class ChatMessageIn(Schema):
    text: str = Field(
        default="", description="The message; for a callback_request, an optional note."
    )
    client_id: str = Field(description="A new id per message (crypto.randomUUID()); resend it.")
    kind: Literal["text", "callback_request"] = Field(
        default="text",
        description="text, or callback_request: ask to be called back (`text` may be empty).",
    )


@router.get("", response=list[ConversationOut], summary="My conversations")
@paginate(CursorPagination, ordering=("-last_message_at", "-public_id"))
def conversation_list(request: HttpRequest) -> object:
    return selectors.customer_conversation_list(actor=request.auth)  # type: ignore[attr-defined]


@router.post(
    "", response={200: ChatMessageOut, 201: ChatMessageOut}, summary="Start a conversation"
)
def conversation_start(request: HttpRequest, payload: ChatMessageIn) -> Status[Message]:
    message, created = services.customer_message_post(
        actor=request.auth,  # type: ignore[attr-defined]
        conversation=None,
        text=payload.text,
        client_id=payload.client_id,
        kind=payload.kind,
    )
    return Status(201 if created else 200, message)


@router.get("/{conversation_id}", response=ConversationDetailOut)
def conversation_get(request: HttpRequest, conversation_id: str, after: str = "") -> Conversation:
    """The thread with its latest messages, or only those after the message `after`.
    Fetching marks support's web chat replies delivered."""
    actor = request.auth  # type: ignore[attr-defined]
    conversation = selectors.customer_conversation_get(actor=actor, public_id=conversation_id)
    services.customer_conversation_delivered(actor=actor, conversation=conversation)
    conversation.messages_shown = selectors.customer_message_list(  # type: ignore[attr-defined]
        actor=actor, conversation=conversation, after=after or None
    )
    return conversation


@router.post("/{conversation_id}/messages", response={200: ChatMessageOut, 201: ChatMessageOut})
def message_post(
    request: HttpRequest, conversation_id: str, payload: ChatMessageIn
) -> Status[Message]:
    actor = request.auth  # type: ignore[attr-defined]
    conversation = selectors.customer_conversation_get(actor=actor, public_id=conversation_id)
    message, created = services.customer_message_post(
        actor=actor,
        conversation=conversation,
        text=payload.text,
        client_id=payload.client_id,
        kind=payload.kind,
    )
    return Status(201 if created else 200, message)


@router.post("/{conversation_id}/read", response={204: None})
def conversation_read(request: HttpRequest, conversation_id: str) -> Status[None]:
    actor = request.auth  # type: ignore[attr-defined]
    conversation = selectors.customer_conversation_get(actor=actor, public_id=conversation_id)
    services.customer_conversation_read(actor=actor, conversation=conversation)
    return Status(204, None)
