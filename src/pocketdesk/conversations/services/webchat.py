"""The customer's side of web chat: messages written in the app (idempotent by the app's own
id, so a message queued offline and sent again is stored once) — text, or a request to be
called back — and the app's receipts: replies fetched (delivered) and read."""

import re

from django.db import transaction
from django.db.models import F

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.inbox import conversation_auto_assign
from pocketdesk.conversations.services.messages import MAX_TEXT, PREVIEW, message_event
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, NotFound, ValidationFailed
from pocketdesk.core.realtime import realtime_push, realtime_push_staff
from pocketdesk.customers.models import Customer
from pocketdesk.customers.selectors import customer_of_user
from pocketdesk.customers.services import timeline_record
from pocketdesk.messaging.adapters.webchat import channel_webchat
from pocketdesk.messaging.models import ChannelKind, Outbound
from pocketdesk.messaging.services import outbound_mark

# crypto.randomUUID() in the app; other clients may use any id of this shape.
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{7,63}")
_UNDELIVERED = (Outbound.Status.QUEUED, Outbound.Status.SENDING, Outbound.Status.SENT)
_UNREAD = (*_UNDELIVERED, Outbound.Status.DELIVERED)
TEXT = "text"
# The customer asks to be called back; the text is their note (when suits them), maybe empty.
CALLBACK_REQUEST = "callback_request"
CUSTOMER_KINDS = (TEXT, CALLBACK_REQUEST)


def _text_check(text: str, client_id: str, kind: str) -> str:
    if kind not in CUSTOMER_KINDS:
        raise ValidationFailed(f"kind is one of {', '.join(CUSTOMER_KINDS)}.", field="kind")
    text = text.strip()
    if not text and kind == TEXT:
        raise ValidationFailed("Write a message.", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"A message has at most {MAX_TEXT} characters.", field="text")
    if not CLIENT_ID.fullmatch(client_id or ""):
        raise ValidationFailed(
            "client_id must be 8 to 64 letters, digits or - _ . : (e.g. a UUID).",
            field="client_id",
        )
    return text


def _replay(existing: Message, text: str, kind: str) -> Message:
    if (
        existing.direction != Message.Direction.INBOUND
        or existing.text != text
        or existing.kind != kind
    ):
        raise Conflict("This client_id was used for another message.", code="client_id_reused")
    return existing


def _own_conversation(customer: Customer, conversation: Conversation) -> Conversation:
    locked = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation.pk, customer=customer)
        .first()
    )
    if locked is None:
        raise NotFound("No such conversation.")
    return locked


def _timeline_summary(kind: str, text: str) -> str:
    if kind == CALLBACK_REQUEST:
        return f"Callback requested: {text[:PREVIEW]}" if text else "Callback requested"
    return f"Message (web chat): {text[:PREVIEW]}"


def customer_message_post(
    *,
    actor: User,
    conversation: Conversation | None,
    text: str,
    client_id: str,
    kind: str = TEXT,
) -> tuple[Message, bool]:
    """A message the customer writes in the app, into their own conversation (None starts a
    new one): `kind` text, or callback_request (a request to be called back, whose text, a
    note, may be empty). Returns the message and whether it is new: a replayed `client_id`
    returns the stored message and changes nothing."""
    text = _text_check(text, client_id, kind)
    customer = customer_of_user(actor=actor)
    channel = channel_webchat()
    if not channel.is_active:
        raise ValidationFailed("Web chat is switched off.", code="channel_inactive")
    now = clock.now()
    with transaction.atomic():
        if conversation is None:
            # The customer's row serialises their new threads: two sends of one queued message
            # cannot both start one.
            customer = Customer.objects.select_for_update().get(pk=customer.pk)
            existing = (
                Message.objects.filter(conversation__customer=customer, client_id=client_id)
                .select_related("conversation")
                .first()
            )
            if existing is not None:
                return _replay(existing, text, kind), False
            conversation = Conversation.objects.create(
                customer=customer, last_message_at=now, created_at=now
            )
        else:
            conversation = _own_conversation(customer, conversation)
            existing = Message.objects.filter(
                conversation=conversation, client_id=client_id
            ).first()
            if existing is not None:
                return _replay(existing, text, kind), False
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.INBOUND,
            channel=channel,
            kind=kind,
            text=text,
            client_id=client_id,
            created_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=now,
            last_channel=channel,
            unread_count=F("unread_count") + 1,
            status=Conversation.Status.OPEN,
        )
        timeline_record(
            customer=customer,
            kind="callback.requested" if kind == CALLBACK_REQUEST else "message.received",
            summary=_timeline_summary(kind, text),
            source="conversations",
            actor=actor,
            data={"conversation": conversation.public_id, "message": message.public_id},
            at=now,
        )
        event = message_event(message)
        realtime_push_staff(event="message.created", data=event)
        # The customer's other devices (and this one's socket) show it too.
        realtime_push(user_public_id=actor.public_id, event="message.created", data=event)
    # Like a message on any channel, it joins the inbox's round robin. After commit: the
    # assignment locks agents' rows before the conversation's.
    if conversation.assignee_id is None:
        conversation_auto_assign(conversation=conversation)
    return message, True


def _replies(conversation: Conversation, statuses: tuple[str, ...]) -> list[Outbound]:
    return list(
        Outbound.objects.filter(
            message__conversation=conversation,
            channel__kind=ChannelKind.WEBCHAT,
            status__in=statuses,
        ).order_by("pk")
    )


def customer_conversation_delivered(*, actor: User, conversation: Conversation) -> int:
    """The app fetched the thread: its web chat replies are delivered. Returns how many moved."""
    if conversation.customer_id != customer_of_user(actor=actor).pk:
        raise NotFound("No such conversation.")
    replies = _replies(conversation, _UNDELIVERED)
    if not replies:
        return 0
    with transaction.atomic():
        return sum(
            outbound_mark(outbound=outbound, status=Outbound.Status.DELIVERED)
            for outbound in replies
        )


def customer_conversation_read(*, actor: User, conversation: Conversation) -> Conversation:
    """The customer read the thread: it is read up to now, its web chat replies are marked
    read, and the agents' screens are told."""
    customer = customer_of_user(actor=actor)
    now = clock.now()
    with transaction.atomic():
        conversation = _own_conversation(customer, conversation)
        conversation.customer_read_at = now
        conversation.save(update_fields=["customer_read_at"])
        for outbound in _replies(conversation, _UNREAD):
            outbound_mark(outbound=outbound, status=Outbound.Status.READ)
        realtime_push_staff(
            event="conversation.read",
            data={"conversation": conversation.public_id, "at": now.isoformat()},
        )
    return conversation
