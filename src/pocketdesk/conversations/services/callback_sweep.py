"""The callbacks' clock (a periodic sweep): reminders before, the conversation on top of the
inbox when the time comes, and a missed callback re-offered."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Callback, Conversation
from pocketdesk.conversations.services.callback_offers import (
    callback_due_refresh,
    callback_event,
    callback_offer,
    conversation_lock,
    customer_tell,
    system_note,
)
from pocketdesk.conversations.services.callback_slots import slot_label
from pocketdesk.conversations.services.inbox import conversation_event
from pocketdesk.core import clock
from pocketdesk.core.errors import DomainError
from pocketdesk.core.realtime import realtime_push, realtime_push_staff
from pocketdesk.customers.services import timeline_record

# The customer is reminded this long before a booked callback, once.
REMIND_BEFORE = timedelta(minutes=15)
# A booked callback not marked done this long after its end is missed (and re-offered).
MISSED_AFTER = timedelta(minutes=30)


def _remind(now: datetime, limit: int) -> int:
    ids = list(
        Callback.objects.filter(
            status=Callback.Status.BOOKED,
            reminded_at__isnull=True,
            starts_at__gt=now,
            starts_at__lte=now + REMIND_BEFORE,
        )
        .order_by("starts_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in ids:
        with transaction.atomic():
            # Claimed first: a second sweep running at the same time finds nothing to do.
            claimed = Callback.objects.filter(
                pk=pk, status=Callback.Status.BOOKED, reminded_at__isnull=True
            ).update(reminded_at=now)
            if not claimed:
                continue
            callback = Callback.objects.select_related("conversation", "customer").get(pk=pk)
            customer = callback.customer
            with translation.override(customer.language):
                if callback.kind == Callback.Kind.CHAT:
                    text = _("Reminder: our chat with you starts at %(when)s (%(zone)s).")
                else:
                    text = _("Reminder: we will call you at %(when)s (%(zone)s).")
                text = text % {
                    "when": slot_label(callback.starts_at, customer),
                    "zone": customer.time_zone,
                }
            message, _problem = customer_tell(callback.conversation, text)
            sent += message is not None
    return sent


def _flag_due(now: datetime, limit: int) -> int:
    ids = list(
        Callback.objects.filter(
            status=Callback.Status.BOOKED,
            due_at__isnull=True,
            starts_at__lte=now,
            ends_at__gt=now - MISSED_AFTER,
        )
        .order_by("starts_at")
        .values_list("pk", flat=True)[:limit]
    )
    flagged = 0
    for pk in ids:
        with transaction.atomic():
            callback = Callback.objects.select_related("conversation").get(pk=pk)
            conversation = conversation_lock(callback.conversation)
            claimed = Callback.objects.filter(
                pk=pk, status=Callback.Status.BOOKED, due_at__isnull=True
            ).update(due_at=now)
            if not claimed:
                continue
            flagged += 1
            changes = ["callback_due_at"]
            if conversation.priority != Conversation.Priority.URGENT:
                conversation.priority = Conversation.Priority.URGENT
                changes.append("priority")
            if conversation.status != Conversation.Status.OPEN:
                conversation.status = Conversation.Status.OPEN
                conversation.snoozed_until = None
                changes.append("status")
            conversation.save(update_fields=["priority", "status", "snoozed_until"])
            callback_due_refresh(conversation)
            system_note(
                conversation,
                f"{callback.get_kind_display()} due now (booked for "
                f"{callback.starts_at:%Y-%m-%d %H:%M} UTC).",
                kind="callback_due",
                data={"callback": callback.public_id},
            )
            event = {**callback_event(callback), "status": "due"}
            realtime_push_staff(event="callback.due", data=event)
            realtime_push_staff(
                event="conversation.updated", data=conversation_event(conversation, changes)
            )
            agent = User.objects.filter(pk=callback.agent_id).first() if callback.agent_id else None
            if agent is not None:
                realtime_push(user_public_id=agent.public_id, event="callback.due", data=event)
    return flagged


def _mark_missed(now: datetime, limit: int) -> int:
    ids = list(
        Callback.objects.filter(status=Callback.Status.BOOKED, ends_at__lte=now - MISSED_AFTER)
        .order_by("starts_at")
        .values_list("pk", flat=True)[:limit]
    )
    missed = 0
    for pk in ids:
        with transaction.atomic():
            callback = Callback.objects.select_related("conversation", "customer").get(pk=pk)
            conversation = conversation_lock(callback.conversation)
            claimed = Callback.objects.filter(pk=pk, status=Callback.Status.BOOKED).update(
                status=Callback.Status.MISSED, closed_at=now
            )
            if not claimed:
                continue
            missed += 1
            callback.status = Callback.Status.MISSED
            callback_due_refresh(conversation)
            timeline_record(
                customer=callback.customer,
                kind="callback.missed",
                summary=f"{callback.get_kind_display()} missed",
                source="conversations",
                data={"conversation": conversation.public_id, "callback": callback.public_id},
            )
            realtime_push_staff(event="callback.missed", data=callback_event(callback))
            try:
                with transaction.atomic():
                    offer = callback_offer(
                        actor=None, conversation=conversation, kind=callback.kind
                    )
                outcome = f"New times offered ({offer.public_id})."
            except DomainError as error:
                outcome = f"No new times could be offered: {error.detail}"
            system_note(
                conversation,
                f"{callback.get_kind_display()} missed "
                f"({callback.starts_at:%Y-%m-%d %H:%M} UTC). {outcome}",
                kind="callback_missed",
                data={"callback": callback.public_id},
            )
    return missed


def callbacks_sweep(*, limit: int = 200) -> dict[str, int]:
    """Periodic (every minute; safe to run twice): mark missed callbacks and offer new slots,
    flag those whose time has come (the conversation goes urgent, open, to the top of the
    inbox), and remind customers REMIND_BEFORE a callback, once."""
    now = clock.now()
    return {
        "missed": _mark_missed(now, limit),
        "due": _flag_due(now, limit),
        "reminded": _remind(now, limit),
    }
