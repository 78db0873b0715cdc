"""Callback offers: slots proposed to a customer in the conversation's current channel, with a
single-use link (only its hash is stored) to pick one; and the thread lines callbacks write
(what the customer is told, notes for the agents, the "callback due" mark)."""

import hashlib
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Callback, CallbackOffer, Conversation, Message
from pocketdesk.conversations.services.callback_slots import (
    HORIZON_DAYS,
    Slot,
    slot_label,
    slot_parse,
    slots_free,
    team_for,
)
from pocketdesk.conversations.services.inbox import conversation_event
from pocketdesk.conversations.services.messages import message_event, message_send
from pocketdesk.core import clock
from pocketdesk.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from pocketdesk.core.realtime import realtime_push_staff
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import timeline_record

logger = logging.getLogger(__name__)

OFFER_TTL = timedelta(hours=48)
KINDS = tuple(Callback.Kind.values)


def require_staff(actor: User | None) -> None:
    """Agents and admins, or None for the automated agent."""
    if actor is not None and not actor.is_support_staff:
        raise PermissionDenied("Only agents and admins manage callbacks.")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_url(path: str) -> str:
    return f"{settings.PD_PUBLIC_URL}{path}"


def conversation_lock(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("customer", "assignee", "last_channel")
        .get(pk=conversation.pk)
    )


def email_of(customer: Customer) -> str | None:
    """The customer's e-mail address for invitations (a verified one first)."""
    point = (
        customer.contact_points.filter(kind=ContactKind.EMAIL)
        .order_by("-verified_at", "pk")
        .first()
    )
    return point.value if point is not None else None


# --- lines in the thread ----------------------------------------------------------------------


def customer_tell(
    conversation: Conversation, text: str, *, actor: User | None = None
) -> tuple[Message | None, str]:
    """Send `text` to the customer where they last wrote, if it can go there; else the reason
    it cannot (no channel, opted out, …). The caller's transaction goes on either way."""
    try:
        with transaction.atomic():
            return message_send(actor=actor, conversation=conversation, text=text), ""
    except DomainError as error:
        logger.info(
            "callback.message.not_sent",
            extra={"conversation": conversation.public_id, "reason": error.code},
        )
        return None, error.detail


def system_note(
    conversation: Conversation, text: str, *, kind: str, data: dict[str, Any]
) -> Message:
    """A line in the thread for the agents (never sent), written by the system."""
    note = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.NOTE,
        kind=kind,
        text=text,
        data=data,
        created_at=clock.now(),
    )
    realtime_push_staff(event="message.created", data=message_event(note))
    return note


def callback_event(callback: Callback) -> dict[str, Any]:
    return {
        "callback": callback.public_id,
        "conversation": callback.conversation.public_id,
        "status": callback.status,
        "kind": callback.kind,
        "starts_at": callback.starts_at.isoformat(),
    }


def callback_due_refresh(conversation: Conversation) -> None:
    """The conversation's "callback due" mark (it lists the conversation above the inbox): the
    earliest booked callback whose time has come, else none. `conversation` is locked."""
    first = (
        Callback.objects.filter(
            conversation=conversation, status=Callback.Status.BOOKED, due_at__isnull=False
        )
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    if conversation.callback_due_at != first:
        conversation.callback_due_at = first
        conversation.save(update_fields=["callback_due_at"])
        realtime_push_staff(
            event="conversation.updated",
            data=conversation_event(conversation, ["callback_due_at"]),
        )


# --- offers -----------------------------------------------------------------------------------


def _offer_text(customer: Customer, kind: str, slots: Sequence[Slot], url: str) -> str:
    with translation.override(customer.language):
        if kind == Callback.Kind.CHAT:
            head = _("We can chat with you at one of these times (%(zone)s):")
        else:
            head = _("We can call you back at one of these times (%(zone)s):")
        lines = [
            f"{settings.PD_SITE_NAME}: " + head % {"zone": customer.time_zone},
            *(f"- {slot_label(slot.starts_at, customer)}" for slot in slots),
            _("Pick one here (the link works for %(hours)s hours): %(url)s")
            % {"hours": int(OFFER_TTL.total_seconds() // 3600), "url": url},
        ]
    return "\n".join(lines)


def callback_offer(
    *, actor: User | None, conversation: Conversation, kind: str = Callback.Kind.CALLBACK
) -> CallbackOffer:
    """Propose free slots to the customer: a message in the conversation's current channel
    with the times in their language and time zone and a single-use link (valid OFFER_TTL) to
    pick one. `actor` None is the automated agent."""
    require_staff(actor)
    if kind not in KINDS:
        raise ValidationFailed(f"Kind is one of {', '.join(KINDS)}.", field="kind", code="bad_kind")
    now = clock.now()
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        booked = Callback.objects.filter(
            conversation=conversation, status=Callback.Status.BOOKED
        ).first()
        if booked is not None:
            raise Conflict(
                "A callback is already booked in this conversation: cancel it first.",
                code="callback_booked",
                callback=booked.public_id,
            )
        team = team_for(conversation)
        slots = slots_free(team=team, customer=conversation.customer)
        if not slots:
            raise Conflict(
                f"The team has no free slot in the next {HORIZON_DAYS} days that suits the "
                "customer.",
                code="no_free_slot",
            )
        token = secrets.token_urlsafe(32)
        offer = CallbackOffer.objects.create(
            conversation=conversation,
            customer=conversation.customer,
            team=team,
            kind=kind,
            slots=[slot.key for slot in slots],
            token_hash=token_hash(token),
            created_by=actor,
            created_at=now,
            expires_at=now + OFFER_TTL,
        )
        url = public_url(f"/app/callback/{token}/")
        text = _offer_text(conversation.customer, kind, slots, url)
        offer.message = message_send(actor=actor, conversation=conversation, text=text)
        offer.save(update_fields=["message"])
        timeline_record(
            customer=conversation.customer,
            kind="callback.offered",
            summary=f"{Callback.Kind(kind).label} offered: "
            + ", ".join(slot_label(s.starts_at, conversation.customer) for s in slots),
            source="conversations",
            actor=actor,
            data={"conversation": conversation.public_id, "offer": offer.public_id},
        )
        audit_record(
            actor=actor,
            action="callback.offered",
            target=conversation,
            data={"offer": offer.public_id, "slots": offer.slots, "kind": kind},
        )
    return offer


def callback_offer_for_token(token: str) -> CallbackOffer:
    """The offer a link names, in any state; NotFound for a token nobody issued."""
    offer = (
        CallbackOffer.objects.select_related("customer", "conversation", "team")
        .filter(token_hash=token_hash(token))
        .first()
        if token
        else None
    )
    if offer is None:
        raise NotFound("This link is not valid.", code="link_invalid")
    return offer


def offer_slots(offer: CallbackOffer) -> list[Slot]:
    length = timedelta(minutes=offer.team.slot_minutes)
    return [Slot(at, at + length) for at in (slot_parse(raw) for raw in offer.slots)]


def offer_callback(offer: CallbackOffer) -> Callback | None:
    """The callback an offer's link booked, if any."""
    return Callback.objects.filter(offer=offer).order_by("-booked_at").first()
