"""Interaction health of stored conversations: the detector (`conversations.health`) run over a
thread's latest messages and delivery states, with what we know of the customer (preferred
channel, send windows, language), stored on the conversation for the inbox; and the automated
agent that offers the suggested callback or chat link itself when no agent has the thread."""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch

from pocketdesk.conversations.health import (
    HealthContext,
    HealthResult,
    TranscriptMessage,
    health_score,
)
from pocketdesk.conversations.health.transcript import Sender
from pocketdesk.conversations.models import (
    Callback,
    CallbackOffer,
    Conversation,
    Message,
    SwitchLink,
)
from pocketdesk.conversations.services.callback_offers import callback_offer, conversation_lock
from pocketdesk.conversations.services.switch_links import switch_link_create
from pocketdesk.core import clock
from pocketdesk.core.errors import DomainError
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Customer
from pocketdesk.customers.send_windows import send_window_next_open
from pocketdesk.messaging.models import ChannelKind

logger = logging.getLogger(__name__)

# The detector reads this many of the latest messages (its signals look at recent turns).
HEALTH_MESSAGES = 40
# The automated agent offers at most one callback or chat link a conversation in this time.
AUTO_OFFER_EVERY = timedelta(hours=24)
# A sweep scores at most this many conversations.
SWEEP_BATCH = 200
# Waiting grows with time alone: open threads are scored again this often while recent.
RESCORE_EVERY = timedelta(minutes=5)
RESCORE_RECENT = timedelta(days=2)

# Messaging channel kinds and customers' contact kinds → the detector's channel names.
HEALTH_CHANNEL: dict[str, str] = {
    ChannelKind.TWILIO_SMS: "sms",
    ChannelKind.WHATSAPP: "whatsapp",
    ChannelKind.MESSENGER: "messenger",
    ChannelKind.INSTAGRAM: "instagram",
    ChannelKind.EMAIL: "email",
    ChannelKind.WEBCHAT: "webchat",
    ChannelKind.WEBPUSH: "webchat",
    ChannelKind.SOCIAL: "social",
}
CONTACT_CHANNEL: dict[str, str] = {
    ContactKind.PHONE: "sms",
    ContactKind.WHATSAPP: "whatsapp",
    ContactKind.MESSENGER: "messenger",
    ContactKind.INSTAGRAM: "instagram",
    ContactKind.EMAIL: "email",
    ContactKind.WEBPUSH: "webchat",
    ContactKind.SOCIAL: "social",
}
_SENDER: dict[str, Sender] = {
    Message.Direction.INBOUND: "customer",
    Message.Direction.OUTBOUND: "agent",
}


def _transcript(messages: Iterable[Message], fallback_channel: str) -> list[TranscriptMessage]:
    out = []
    for message in messages:
        sender = _SENDER.get(message.direction)
        if sender is None:  # internal notes are not part of the conversation
            continue
        channel = message.channel.kind if message.channel is not None else ""
        outbound = message.outbound
        out.append(
            TranscriptMessage(
                sender=sender,
                channel=HEALTH_CHANNEL.get(channel, fallback_channel),
                text=message.text,
                at=message.created_at,
                status=outbound.status if outbound is not None else None,
                kind="text" if message.kind in ("text", "callback_request") else message.kind,
                attachments=len(message.media or []),
            )
        )
    return out


def _preferred_channel(customer: Customer) -> str | None:
    """Their own ranking first; else what we learned of them (habits), if anything."""
    ranking = list(customer.channel_ranking or [])
    if not ranking:
        habits = getattr(customer, "habits", None)
        ranking = list(getattr(habits, "channel_ranking", None) or [])
    return CONTACT_CHANNEL.get(ranking[0]) if ranking else None


def _in_send_window(customer: Customer, now: datetime) -> bool | None:
    windows = list(customer.send_windows.all())
    if not windows:
        return None
    return send_window_next_open(windows, time_zone=customer.time_zone, at=now) == now


def _context(conversation: Conversation, now: datetime) -> HealthContext:
    customer = conversation.customer
    return HealthContext(
        now=now,
        preferred_channel=_preferred_channel(customer),
        in_send_window=_in_send_window(customer, now),
        language=customer.language or None,
    )


def _latest(conversation: Conversation) -> list[Message]:
    rows = (
        Message.objects.filter(conversation=conversation)
        .exclude(direction=Message.Direction.NOTE)
        .select_related("channel", "outbound")
        .order_by("-created_at", "-id")[:HEALTH_MESSAGES]
    )
    return list(rows)[::-1]


def conversation_health(conversation: Conversation, *, now: datetime | None = None) -> HealthResult:
    """The conversation's health now (not stored)."""
    now = now or clock.now()
    fallback = HEALTH_CHANNEL.get(
        conversation.last_channel.kind if conversation.last_channel else "", "sms"
    )
    return health_score(
        _transcript(_latest(conversation), fallback), context=_context(conversation, now)
    )


def health_json(result: HealthResult) -> dict[str, Any]:
    return {
        "going_badly": result.going_badly,
        "reasons": [{"code": r.code, "text": r.text, "weight": r.weight} for r in result.reasons],
        "suggestion": {
            "kind": result.suggestion.kind,
            "channel": result.suggestion.channel,
            "why": result.suggestion.why,
        },
    }


def conversation_health_store(conversation: Conversation) -> HealthResult:
    """Score one conversation now and store it (the API and the thread page)."""
    now = clock.now()
    (fresh,) = _conversations([conversation.pk])
    result = conversation_health(fresh, now=now)
    Conversation.objects.filter(pk=conversation.pk).update(
        health_score=result.score, health=health_json(result), health_at=now, health_stale=False
    )
    conversation.health_score, conversation.health_at = result.score, now
    conversation.health = health_json(result)
    return result


def _conversations(ids: Sequence[int]) -> list[Conversation]:
    return list(
        Conversation.objects.filter(pk__in=ids)
        .select_related("customer", "customer__habits", "last_channel", "assignee")
        .prefetch_related(Prefetch("customer__send_windows"))
        .order_by("pk")
    )


def conversations_health_refresh(conversation_ids: Sequence[int]) -> int:
    """Score the conversations again and store it (the inbox sorts on it); offer the suggested
    callback or chat link where the automated agent has the thread. Returns how many."""
    now = clock.now()
    conversations = _conversations(conversation_ids)
    results: list[tuple[Conversation, HealthResult]] = []
    for conversation in conversations:
        result = conversation_health(conversation, now=now)
        conversation.health_score = result.score
        conversation.health = health_json(result)
        conversation.health_at = now
        results.append((conversation, result))
    Conversation.objects.bulk_update(conversations, ["health_score", "health", "health_at"])
    if settings.PD_AUTO_OFFER:
        for conversation, result in results:
            _auto_offer(conversation, result, now=now)
    return len(conversations)


def _auto_offer(conversation: Conversation, result: HealthResult, *, now: datetime) -> None:
    """The automated agent: nobody has the thread, it is going badly and the detector has a
    suggestion → send the callback offer or the chat link itself, once a day at most."""
    kind = result.suggestion.kind
    if not result.going_badly or kind == "none" or conversation.assignee_id is not None:
        return
    if conversation.status != Conversation.Status.OPEN:
        return
    # Not in the customer's quiet hours: the offer would wake them.
    if _in_send_window(conversation.customer, now) is False:
        return
    since = now - AUTO_OFFER_EVERY
    try:
        with transaction.atomic():
            # Locked: two overlapping sweeps must not both offer.
            conversation_lock(conversation)
            if (
                CallbackOffer.objects.filter(
                    conversation=conversation, created_at__gte=since
                ).exists()
                or SwitchLink.objects.filter(
                    conversation=conversation, created_at__gte=since
                ).exists()
                or Callback.objects.filter(
                    conversation=conversation, status=Callback.Status.BOOKED
                ).exists()
            ):
                return
            if kind == "schedule_callback":
                callback_offer(actor=None, conversation=conversation)
            elif result.suggestion.channel == "webchat":
                switch_link_create(actor=None, conversation=conversation)
            else:
                return
    except DomainError as exc:  # no free slot, no channel to send on: the agent will see it
        logger.info(
            "conversations.health.auto_offer_skipped",
            extra={"conversation": conversation.public_id, "code": exc.code},
        )
        return
    logger.info(
        "conversations.health.auto_offer",
        extra={"conversation": conversation.public_id, "kind": kind},
    )


def conversations_health_sweep(*, limit: int = SWEEP_BATCH) -> int:
    """Periodic: score the conversations changed since they were last scored (a message or a
    receipt marks them stale), then open ones whose customer may be waiting. Each is marked
    fresh before it is scored, so a message arriving meanwhile marks it stale again."""
    now = clock.now()
    stale = list(
        Conversation.objects.filter(health_stale=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if len(stale) < limit:
        stale += list(
            Conversation.objects.filter(
                status=Conversation.Status.OPEN,
                health_stale=False,
                last_message_at__gte=now - RESCORE_RECENT,
                health_at__lt=now - RESCORE_EVERY,
            )
            .order_by("health_at")
            .values_list("pk", flat=True)[: limit - len(stale)]
        )
    if not stale:
        return 0
    Conversation.objects.filter(pk__in=stale).update(health_stale=False)
    return conversations_health_refresh(stale)
