"""Callbacks booked, cancelled and done. A booking holds one of the team's seats at the slot
(CallbackSeat, unique per team, time and seat number): two bookings racing for the last seat
cannot both win, and the loser is offered the next free slots."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from pocketdesk.accounts.models import User
from pocketdesk.conversations import tasks
from pocketdesk.conversations.models import Callback, CallbackOffer, CallbackSeat
from pocketdesk.conversations.services.callback_offers import (
    callback_due_refresh,
    callback_event,
    conversation_lock,
    customer_tell,
    email_of,
    offer_slots,
    require_staff,
    system_note,
)
from pocketdesk.conversations.services.callback_slots import (
    Slot,
    slot_label,
    slot_parse,
    slots_free,
)
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.realtime import realtime_push_staff
from pocketdesk.core.services import audit_record
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.services import timeline_record

# --- booking ----------------------------------------------------------------------------------


def _seat_take(
    offer: CallbackOffer, slot: Slot, actor: User | None, now: datetime
) -> Callback | None:
    """A callback holding the first free seat at the slot, or None when all are taken. A seat
    another booking takes meanwhile fails its insert (the unique constraint): the next seat is
    tried."""
    team = offer.team
    held = set(
        CallbackSeat.objects.filter(team=team, starts_at=slot.starts_at).values_list(
            "seat", flat=True
        )
    )
    conversation = offer.conversation
    for seat in range(1, team.seats + 1):
        if seat in held:
            continue
        try:
            with transaction.atomic():
                callback = Callback.objects.create(
                    conversation=conversation,
                    customer=offer.customer,
                    team=team,
                    offer=offer,
                    kind=offer.kind,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    agent_id=conversation.assignee_id or (actor.pk if actor else None),
                    booked_at=now,
                )
                CallbackSeat.objects.create(
                    team=team, starts_at=slot.starts_at, seat=seat, callback=callback
                )
            return callback
        except IntegrityError:
            continue
    return None


def callback_book(
    *, offer: CallbackOffer, slot: str | datetime, actor: User | None = None
) -> Callback:
    """Book one of the offer's slots, through its link (`actor` None: the customer) or by an
    agent. An offer books once. A slot taken meanwhile (or already begun) is not booked: the
    offer gets the next free slots, and Conflict `slot_taken` carries them (`proposals`)."""
    require_staff(actor)
    starts_at = slot_parse(slot)
    now = clock.now()
    with transaction.atomic():
        offer = (
            CallbackOffer.objects.select_for_update(of=("self",))
            .select_related("customer", "conversation", "team")
            .get(pk=offer.pk)
        )
        if offer.used_at is not None:
            raise Conflict("This link has been used already.", code="offer_used")
        if offer.expires_at <= now:
            raise Conflict("This link has expired.", code="offer_expired")
        # One booked callback a conversation: an older offer's link cannot add a second.
        conversation_lock(offer.conversation)
        booked = Callback.objects.filter(
            conversation=offer.conversation, status=Callback.Status.BOOKED
        ).first()
        if booked is not None:
            raise Conflict(
                "A callback is already booked in this conversation.",
                code="callback_booked",
                callback=booked.public_id,
            )
        offered = {s.starts_at: s for s in offer_slots(offer)}
        if starts_at not in offered:
            raise ValidationFailed(
                "Pick one of the times offered.", field="slot", code="slot_not_offered"
            )
        callback = _seat_take(offer, offered[starts_at], actor, now) if starts_at > now else None
        if callback is not None:
            _booked(offer, callback, actor, now)
            return callback
    # Taken (or begun): the same link now offers the next free slots.
    proposals = slots_free(team=offer.team, customer=offer.customer)
    CallbackOffer.objects.filter(pk=offer.pk, used_at__isnull=True).update(
        slots=[p.key for p in proposals]
    )
    if not proposals:
        raise Conflict(
            "That time was just taken, and no other time is free: we will be in touch.",
            code="no_free_slot",
            proposals=[],
        )
    raise Conflict(
        "That time was just taken. These times are free.",
        code="slot_taken",
        proposals=[p.key for p in proposals],
    )


def _booked(offer: CallbackOffer, callback: Callback, actor: User | None, now: datetime) -> None:
    """What follows a booking: the offer is used, the customer is told (and invited by e-mail
    when they have an address), the agents see a note."""
    offer.used_at = now
    offer.save(update_fields=["used_at"])
    customer = offer.customer
    conversation = offer.conversation
    label = slot_label(callback.starts_at, customer)
    email = email_of(customer)
    with translation.override(customer.language):
        if callback.kind == Callback.Kind.CHAT:
            text = _("Booked: we will chat with you on %(when)s (%(zone)s).")
        else:
            text = _("Booked: we will call you on %(when)s (%(zone)s).")
        text = text % {"when": label, "zone": customer.time_zone}
        if email:
            text += " " + _("A calendar invitation is on its way to %(email)s.") % {"email": email}
    _sent, problem = customer_tell(conversation, text)
    system_note(
        conversation,
        f"{callback.get_kind_display()} booked for {callback.starts_at:%Y-%m-%d %H:%M} UTC "
        f"({label}, {customer.time_zone})"
        + (f". The confirmation could not be sent: {problem}" if problem else "."),
        kind="callback_booked",
        data={"callback": callback.public_id},
    )
    timeline_record(
        customer=customer,
        kind="callback.booked",
        summary=f"{callback.get_kind_display()} booked for {label}",
        source="conversations",
        actor=actor,
        data={"conversation": conversation.public_id, "callback": callback.public_id},
    )
    audit_record(
        actor=actor,
        action="callback.booked",
        target=callback,
        data={"starts_at": callback.starts_at.isoformat(), "offer": offer.public_id},
    )
    realtime_push_staff(event="callback.booked", data=callback_event(callback))
    if email:
        enqueue_on_commit(tasks.callback_invite_send, callback.pk, "REQUEST")


# --- cancel and done --------------------------------------------------------------------------


def _lock(callback: Callback) -> Callback:
    return (
        Callback.objects.select_for_update(of=("self",))
        .select_related("conversation", "customer")
        .get(pk=callback.pk)
    )


def _require_agent(actor: User | None) -> User:
    if actor is None or not actor.is_support_staff:
        raise PermissionDenied("Only agents and admins change callbacks.")
    return actor


def callback_cancel(*, actor: User, callback: Callback, reason: str = "") -> Callback:
    """Cancel a booked callback: its seat is free again, the customer is told and the e-mailed
    invitation withdrawn. Cancelling twice changes nothing."""
    _require_agent(actor)
    reason = reason.strip()[:300]
    now = clock.now()
    with transaction.atomic():
        # Lock order, as everywhere in callbacks: the conversation, then the callback.
        conversation = conversation_lock(callback.conversation)
        callback = _lock(callback)
        if callback.status == Callback.Status.CANCELLED:
            return callback
        if callback.status != Callback.Status.BOOKED:
            raise Conflict(
                f"This callback is {callback.status}: it can no longer be cancelled.",
                code="callback_closed",
            )
        callback.status = Callback.Status.CANCELLED
        callback.closed_at = now
        callback.closed_by = actor
        callback.save(update_fields=["status", "closed_at", "closed_by"])
        CallbackSeat.objects.filter(callback=callback).delete()
        callback_due_refresh(conversation)
        customer = callback.customer
        with translation.override(customer.language):
            text = _("Your appointment on %(when)s (%(zone)s) is cancelled.") % {
                "when": slot_label(callback.starts_at, customer),
                "zone": customer.time_zone,
            }
        customer_tell(conversation, text, actor=actor)
        timeline_record(
            customer=customer,
            kind="callback.cancelled",
            summary=f"{callback.get_kind_display()} cancelled" + (f": {reason}" if reason else ""),
            source="conversations",
            actor=actor,
            data={"conversation": conversation.public_id, "callback": callback.public_id},
        )
        audit_record(
            actor=actor, action="callback.cancelled", target=callback, data={"reason": reason}
        )
        realtime_push_staff(event="callback.cancelled", data=callback_event(callback))
        if callback.invite_sent_at is not None:
            enqueue_on_commit(tasks.callback_invite_send, callback.pk, "CANCEL")
    return callback


def callback_mark_done(*, actor: User, callback: Callback) -> Callback:
    """The agent called (or chatted): the conversation leaves the top of the inbox."""
    _require_agent(actor)
    with transaction.atomic():
        conversation = conversation_lock(callback.conversation)
        callback = _lock(callback)
        if callback.status == Callback.Status.DONE:
            return callback
        if callback.status != Callback.Status.BOOKED:
            raise Conflict(f"This callback is {callback.status}.", code="callback_closed")
        callback.status = Callback.Status.DONE
        callback.closed_at = clock.now()
        callback.closed_by = actor
        callback.save(update_fields=["status", "closed_at", "closed_by"])
        callback_due_refresh(conversation)
        audit_record(actor=actor, action="callback.done", target=callback)
        realtime_push_staff(event="callback.done", data=callback_event(callback))
    return callback
