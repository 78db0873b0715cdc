"""Inbox writes: assignment (by hand and round robin), status, priority, labels, internal notes,
read state, canned replies and agents' availability. Each change reaches the agents' screens as
"conversation.updated" after commit."""

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.conversations.models import AgentProfile, CannedReply, Conversation, Label, Message
from pocketdesk.conversations.services.messages import MAX_TEXT, message_event
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.realtime import realtime_push, realtime_push_staff
from pocketdesk.core.services import audit_record
from pocketdesk.messaging.handlers import InboundMessage

logger = logging.getLogger(__name__)

# What counts towards an agent's capacity: conversations waiting on the agent or the customer.
LOAD_STATUSES = (Conversation.Status.OPEN, Conversation.Status.PENDING)
MAX_CAPACITY = 100
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# {{customer.name}}: a fixed set of names, never attribute access on objects.
VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
VARIABLES = frozenset(
    {"customer.name", "customer.first_name", "agent.name", "agent.first_name", "conversation.id"}
)
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _require_staff(actor: User | None) -> User:
    if actor is None or not actor.is_support_staff:
        raise PermissionDenied("Only agents and admins manage conversations.")
    return actor


def _lock(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("assignee")
        .get(pk=conversation.pk)
    )


def conversation_event(conversation: Conversation, changes: list[str]) -> dict[str, Any]:
    """What an agent's screen needs to refresh a conversation's row and header."""
    assignee = conversation.assignee
    return {
        "conversation": conversation.public_id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee": assignee.public_id if assignee is not None else None,
        "unread_count": conversation.unread_count,
        "changes": changes,
    }


def _announce(conversation: Conversation, changes: list[str]) -> None:
    realtime_push_staff(
        event="conversation.updated", data=conversation_event(conversation, changes)
    )


# --- assignment -----------------------------------------------------------------------------


def _assign(conversation: Conversation, assignee: User | None, now: datetime) -> None:
    conversation.assignee = assignee
    conversation.assigned_at = now if assignee is not None else None
    conversation.save(update_fields=["assignee", "assigned_at"])
    if assignee is not None:
        AgentProfile.objects.filter(user=assignee).update(last_assigned_at=now)


def _announce_assigned(conversation: Conversation, actor: User | None) -> None:
    data = {
        **conversation_event(conversation, ["assignee"]),
        "by": actor.public_id if actor is not None else None,
    }
    realtime_push_staff(event="conversation.assigned", data=data)
    if conversation.assignee is not None:
        realtime_push(
            user_public_id=conversation.assignee.public_id, event="conversation.assigned", data=data
        )
    _announce(conversation, ["assignee"])


def conversation_assign(
    *, actor: User, conversation: Conversation, assignee: User | None
) -> Conversation:
    """Give the conversation to `assignee` (None: nobody). Capacity does not apply: a person
    decided."""
    _require_staff(actor)
    if assignee is not None and not (assignee.is_active and assignee.is_support_staff):
        raise ValidationFailed(
            "Only an active agent or admin can be assigned.", field="assignee", code="not_an_agent"
        )
    now = clock.now()
    with transaction.atomic():
        # Lock order everywhere: agent profiles, then the conversation.
        if assignee is not None:
            AgentProfile.objects.select_for_update().filter(user=assignee).first()
        conversation = _lock(conversation)
        previous = conversation.assignee
        if previous == assignee:
            return conversation
        _assign(conversation, assignee, now)
        audit_record(
            actor=actor,
            action="conversation.assigned",
            target=conversation,
            data={
                "assignee": assignee.public_id if assignee else None,
                "previous": previous.public_id if previous else None,
            },
        )
        _announce_assigned(conversation, actor)
    return conversation


def conversation_assign_next(*, actor: User | None, conversation: Conversation) -> Conversation:
    """Round robin: the available agent with the fewest open conversations, below their
    capacity; on a tie, the one assigned longest ago. `actor` None is the automatic rule.

    Concurrent calls queue on the available agents' profile rows, so two of them never both
    see the same free slot."""
    if actor is not None:
        _require_staff(actor)
    now = clock.now()
    with transaction.atomic():
        profiles = list(
            AgentProfile.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(available=True, user__is_active=True, user__role__in=STAFF_ROLES)
            .order_by("pk")
        )
        conversation = _lock(conversation)
        if conversation.status == Conversation.Status.RESOLVED:
            raise Conflict(
                "This conversation is resolved: reopen it first.", code="conversation_resolved"
            )
        loads = dict(
            Conversation.objects.filter(
                assignee_id__in=[p.user_id for p in profiles], status__in=LOAD_STATUSES
            )
            .exclude(pk=conversation.pk)
            .values("assignee_id")
            .annotate(n=Count("id"))
            .values_list("assignee_id", "n")
        )
        free = [p for p in profiles if loads.get(p.user_id, 0) < p.max_open]
        if not free:
            raise Conflict(
                "No agent is available with room for another conversation.",
                code="no_agent_available",
            )
        chosen = min(
            free, key=lambda p: (loads.get(p.user_id, 0), p.last_assigned_at or _EPOCH, p.pk)
        )
        if conversation.assignee_id == chosen.user_id:
            return conversation
        previous = conversation.assignee
        _assign(conversation, chosen.user, now)
        audit_record(
            actor=actor,
            action="conversation.assigned",
            target=conversation,
            data={
                "assignee": chosen.user.public_id,
                "previous": previous.public_id if previous else None,
                "rule": "round_robin",
            },
        )
        _announce_assigned(conversation, actor)
    return conversation


def conversation_auto_assign(*, conversation: Conversation) -> Conversation | None:
    """With PD_AUTO_ASSIGN on, give an unassigned conversation to the next agent; it stays
    unassigned (and visible under "Unassigned") when nobody has room."""
    if not settings.PD_AUTO_ASSIGN or conversation.assignee_id is not None:
        return None
    try:
        return conversation_assign_next(actor=None, conversation=conversation)
    except Conflict as error:
        logger.info(
            "conversation.auto_assign.skipped",
            extra={"conversation": conversation.public_id, "reason": error.code},
        )
        return None


def inbound_auto_assign(batch: Sequence[InboundMessage]) -> None:
    """Inbound handler, registered after the one that threads the messages: auto-assigns the
    unassigned conversations they joined."""
    if not settings.PD_AUTO_ASSIGN or not batch:
        return
    with_ids = [inbound for inbound in batch if inbound.provider_id]
    joined = set(
        Message.objects.filter(
            channel_id__in={inbound.channel_id for inbound in with_ids},
            provider_id__in=[inbound.provider_id for inbound in with_ids],
        ).values_list("conversation_id", flat=True)
    )
    for inbound in batch:
        if not inbound.provider_id:  # no id to find it by: the customer's latest thread
            latest = (
                Conversation.objects.filter(customer_id=inbound.customer_id)
                .order_by("-last_message_at")
                .values_list("pk", flat=True)
                .first()
            )
            if latest is not None:
                joined.add(latest)

    def assign() -> None:
        # After the inbound transaction: agent profiles are locked before conversations (as in
        # every assignment), and a failure here cannot undo the stored messages.
        unassigned = Conversation.objects.filter(pk__in=joined, assignee__isnull=True).order_by(
            "last_message_at", "pk"
        )
        for conversation in unassigned:
            conversation_auto_assign(conversation=conversation)

    transaction.on_commit(assign, robust=True)


def agent_profile_set(
    *, actor: User, agent: User, available: bool | None = None, max_open: int | None = None
) -> AgentProfile:
    """An agent sets their own availability; an admin may set anyone's, and capacities."""
    _require_staff(actor)
    if actor.pk != agent.pk and actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins change another agent's settings.")
    if not agent.is_support_staff:
        raise ValidationFailed("Only agents and admins take conversations.", code="not_an_agent")
    if max_open is not None and not 0 <= max_open <= MAX_CAPACITY:
        raise ValidationFailed(
            f"Capacity is between 0 and {MAX_CAPACITY} conversations.", field="max_open"
        )
    with transaction.atomic():
        profile, _ = AgentProfile.objects.select_for_update().get_or_create(user=agent)
        changed: dict[str, Any] = {}
        if available is not None and available != profile.available:
            profile.available = changed["available"] = available
        if max_open is not None and max_open != profile.max_open:
            profile.max_open = changed["max_open"] = max_open
        if changed:
            profile.save(update_fields=list(changed))
            audit_record(actor=actor, action="agent.settings_changed", target=agent, data=changed)
    return profile


# --- status, priority, subject, labels ------------------------------------------------------


def conversation_status_set(
    *,
    actor: User,
    conversation: Conversation,
    status: str,
    snoozed_until: datetime | None = None,
) -> Conversation:
    """Open, pending, snoozed (until a time in the future) or resolved."""
    _require_staff(actor)
    if status not in Conversation.Status.values:
        raise ValidationFailed(
            f"Status is one of {', '.join(Conversation.Status.values)}.",
            field="status",
            code="bad_status",
        )
    now = clock.now()
    if status == Conversation.Status.SNOOZED:
        if snoozed_until is None or snoozed_until <= now:
            raise ValidationFailed(
                "Snooze until a time in the future.",
                field="snoozed_until",
                code="snooze_needs_future_time",
            )
    else:
        snoozed_until = None
    with transaction.atomic():
        conversation = _lock(conversation)
        previous = conversation.status
        if (previous, conversation.snoozed_until) == (status, snoozed_until):
            return conversation
        conversation.status = status
        conversation.snoozed_until = snoozed_until
        conversation.save(update_fields=["status", "snoozed_until"])
        audit_record(
            actor=actor,
            action="conversation.status_changed",
            target=conversation,
            data={
                "from": previous,
                "to": status,
                "until": snoozed_until.isoformat() if snoozed_until else None,
            },
        )
        _announce(conversation, ["status"])
    return conversation


def conversation_priority_set(
    *, actor: User, conversation: Conversation, priority: str
) -> Conversation:
    _require_staff(actor)
    if priority not in Conversation.Priority.values:
        raise ValidationFailed(
            f"Priority is one of {', '.join(Conversation.Priority.values)}.",
            field="priority",
            code="bad_priority",
        )
    with transaction.atomic():
        conversation = _lock(conversation)
        previous = conversation.priority
        if previous == priority:
            return conversation
        conversation.priority = priority
        conversation.save(update_fields=["priority"])
        audit_record(
            actor=actor,
            action="conversation.priority_changed",
            target=conversation,
            data={"from": previous, "to": priority},
        )
        _announce(conversation, ["priority"])
    return conversation


def conversation_subject_set(
    *, actor: User, conversation: Conversation, subject: str
) -> Conversation:
    _require_staff(actor)
    subject = subject.strip()
    if len(subject) > 200:
        raise ValidationFailed("A subject has at most 200 characters.", field="subject")
    with transaction.atomic():
        conversation = _lock(conversation)
        if conversation.subject == subject:
            return conversation
        conversation.subject = subject
        conversation.save(update_fields=["subject"])
        _announce(conversation, ["subject"])
    return conversation


def conversation_update(
    *, actor: User, conversation: Conversation, changes: Mapping[str, Any]
) -> Conversation:
    """Several fields at once (the API's PATCH), all or none: `status` (with
    `snoozed_until`), `priority`, `subject`, `assignee` (a User or None)."""
    unknown = set(changes) - {"status", "snoozed_until", "priority", "subject", "assignee"}
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        if "status" in changes:
            conversation = conversation_status_set(
                actor=actor,
                conversation=conversation,
                status=changes["status"],
                snoozed_until=changes.get("snoozed_until"),
            )
        elif changes.get("snoozed_until") is not None:
            conversation = conversation_status_set(
                actor=actor,
                conversation=conversation,
                status=Conversation.Status.SNOOZED,
                snoozed_until=changes["snoozed_until"],
            )
        if "priority" in changes:
            conversation = conversation_priority_set(
                actor=actor, conversation=conversation, priority=changes["priority"]
            )
        if "subject" in changes:
            conversation = conversation_subject_set(
                actor=actor, conversation=conversation, subject=changes["subject"] or ""
            )
        if "assignee" in changes:
            conversation = conversation_assign(
                actor=actor, conversation=conversation, assignee=changes["assignee"]
            )
    return conversation


def _label_name_check(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 50:
        raise ValidationFailed("A label has 1 to 50 characters.", field="name")
    return name


def label_create(*, actor: User, name: str, colour: str = "#5c6670") -> Label:
    _require_staff(actor)
    name = _label_name_check(name)
    if not COLOUR.fullmatch(colour):
        raise ValidationFailed("A colour is written #rrggbb.", field="colour")
    try:
        with transaction.atomic():
            label = Label.objects.create(name=name, colour=colour.lower(), created_at=clock.now())
            audit_record(actor=actor, action="label.created", target=label, data={"name": name})
    except IntegrityError as exc:
        raise Conflict(f"The label {name!r} exists.", code="label_exists") from exc
    return label


def _label_for(actor: User, name: str) -> Label:
    """The label of that name in any case, created when new."""
    name = _label_name_check(name)
    label = Label.objects.filter(name__iexact=name).first()
    if label is not None:
        return label
    try:
        return label_create(actor=actor, name=name)
    except Conflict:  # created meanwhile by someone else
        return Label.objects.get(name__iexact=name)


def conversation_label_add(*, actor: User, conversation: Conversation, name: str) -> Label:
    _require_staff(actor)
    with transaction.atomic():
        label = _label_for(actor, name)
        conversation = _lock(conversation)
        if not conversation.labels.filter(pk=label.pk).exists():
            conversation.labels.add(label)
            audit_record(
                actor=actor,
                action="conversation.labelled",
                target=conversation,
                data={"label": label.name},
            )
            _announce(conversation, ["labels"])
    return label


def conversation_label_remove(*, actor: User, conversation: Conversation, name: str) -> None:
    _require_staff(actor)
    with transaction.atomic():
        conversation = _lock(conversation)
        label = conversation.labels.filter(name__iexact=name.strip()).first()
        if label is None:
            return
        conversation.labels.remove(label)
        audit_record(
            actor=actor,
            action="conversation.unlabelled",
            target=conversation,
            data={"label": label.name},
        )
        _announce(conversation, ["labels"])


# --- notes and read state -------------------------------------------------------------------


def note_add(*, actor: User, conversation: Conversation, text: str) -> Message:
    """An internal note in the thread: stored like a message, never sent, and shown to staff
    only (the customer's app is not told)."""
    _require_staff(actor)
    text = text.strip()
    if not text:
        raise ValidationFailed("Write the note.", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"A note has at most {MAX_TEXT} characters.", field="text")
    with transaction.atomic():
        conversation = _lock(conversation)
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.NOTE,
            author=actor,
            kind="text",
            text=text,
            created_at=clock.now(),
        )
        realtime_push_staff(event="message.created", data=message_event(message))
    return message


def conversation_mark_read(*, actor: User, conversation: Conversation) -> Conversation:
    """The agents have seen the customer's messages: the unread badge goes."""
    _require_staff(actor)
    with transaction.atomic():
        changed = Conversation.objects.filter(pk=conversation.pk, unread_count__gt=0).update(
            unread_count=0
        )
        conversation.unread_count = 0
        if changed:
            fresh = Conversation.objects.select_related("assignee").get(pk=conversation.pk)
            _announce(fresh, ["unread_count"])
    return conversation


def conversations_snoozed_wake(*, limit: int = 500) -> int:
    """Reopen snoozed conversations whose time has come (periodic; safe to run twice)."""
    now = clock.now()
    due = list(
        Conversation.objects.filter(
            status=Conversation.Status.SNOOZED, snoozed_until__lte=now
        ).values_list("pk", flat=True)[:limit]
    )
    woken = 0
    for pk in due:
        with transaction.atomic():
            changed = Conversation.objects.filter(
                pk=pk, status=Conversation.Status.SNOOZED, snoozed_until__lte=now
            ).update(status=Conversation.Status.OPEN, snoozed_until=None)
            if changed:
                woken += 1
                _announce(Conversation.objects.select_related("assignee").get(pk=pk), ["status"])
    return woken


# --- canned replies -------------------------------------------------------------------------


def _variables_check(text: str) -> None:
    unknown = sorted(set(VARIABLE.findall(text)) - VARIABLES)
    if unknown:
        raise ValidationFailed(
            f"Unknown variable {{{{{unknown[0]}}}}}; use one of "
            + ", ".join(f"{{{{{name}}}}}" for name in sorted(VARIABLES))
            + ".",
            field="text",
            code="unknown_variable",
        )


def canned_reply_create(*, actor: User, shortcut: str, text: str, title: str = "") -> CannedReply:
    _require_staff(actor)
    shortcut = shortcut.strip().lstrip("/").lower()
    if not SHORTCUT.fullmatch(shortcut):
        raise ValidationFailed(
            "A shortcut is 1 to 40 lower-case letters, digits, - or _.", field="shortcut"
        )
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise ValidationFailed(f"The text has 1 to {MAX_TEXT} characters.", field="text")
    _variables_check(text)
    try:
        with transaction.atomic():
            reply = CannedReply.objects.create(
                shortcut=shortcut,
                title=title.strip()[:100],
                text=text,
                created_by=actor,
                created_at=clock.now(),
            )
            audit_record(
                actor=actor,
                action="canned_reply.created",
                target=reply,
                data={"shortcut": shortcut},
            )
    except IntegrityError as exc:
        raise Conflict(f"The shortcut /{shortcut} exists.", code="canned_reply_exists") from exc
    return reply


def _first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""


def canned_reply_render(*, reply: CannedReply, conversation: Conversation, agent: User) -> str:
    """The reply's text for this customer and agent, as plain text: only the known variables
    are replaced (no lookups on objects), and nothing is HTML-escaped here — pages escape it
    when they show it."""
    customer_name = conversation.customer.name
    agent_name = agent.name or agent.email.split("@")[0]
    values = {
        "customer.name": customer_name,
        "customer.first_name": _first_name(customer_name),
        "agent.name": agent_name,
        "agent.first_name": _first_name(agent_name),
        "conversation.id": conversation.public_id,
    }
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), reply.text)
