"""Accepting events from the business's systems: checked, stored once per sender's id, fanned
out after commit."""

import json
import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import NotFound, PermissionDenied, ValidationFailed
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.models import Customer
from pocketdesk.notifications import tasks
from pocketdesk.notifications.event_types import BROADCAST, EVENT_TYPES
from pocketdesk.notifications.models import Event
from pocketdesk.notifications.segments import segment_get
from pocketdesk.notifications.services.subscriptions import topic_check

logger = logging.getLogger(__name__)

SOURCE_ID_MAX = 200
PAYLOAD_MAX_BYTES = 16_000
EVENT_ROLES = frozenset({Role.PARTNER, Role.AGENT, Role.ADMIN})


# --- events ----------------------------------------------------------------------------------


def _subject_parse(subject: Any) -> tuple[str, str]:
    if not isinstance(subject, Mapping) or len(subject) != 1:
        raise ValidationFailed(
            'The subject is {"customer": id}, {"topic": key} or {"segment": key}.',
            field="subject",
            code="invalid_subject",
        )
    ((kind, value),) = subject.items()
    if kind == Event.SubjectKind.TOPIC:
        return kind, topic_check(value)
    if kind == Event.SubjectKind.SEGMENT and isinstance(value, str) and value:
        try:  # stored by key: the audience is the segment's customers at fan-out
            return kind, segment_get(value).key
        except NotFound:
            raise ValidationFailed(
                "No such segment.", field="subject", code="unknown_segment"
            ) from None
    if kind != Event.SubjectKind.CUSTOMER or not isinstance(value, str) or not value:
        raise ValidationFailed(
            'The subject is {"customer": id}, {"topic": key} or {"segment": key}.',
            field="subject",
            code="invalid_subject",
        )
    customer = Customer.objects.filter(public_id=value).only("pk", "merged_into").first()
    if customer is None:
        raise ValidationFailed("No such customer.", field="subject", code="unknown_customer")
    if customer.merged_into_id is not None:
        value = Customer.objects.values_list("public_id", flat=True).get(pk=customer.merged_into_id)
    return kind, value


def event_accept(
    *,
    actor: User,
    type: str,
    source_id: str,
    subject: Mapping[str, Any],
    payload: Mapping[str, Any] | None = None,
    critical: bool = False,
) -> tuple[Event, bool]:
    """Store an event and fan it out after commit. A source id the actor already sent returns
    the stored event (created False) and sends nothing again."""
    if actor.role not in EVENT_ROLES:
        raise PermissionDenied("Only systems, partners and staff send events.")
    source_id = (source_id or "").strip()
    if not source_id or len(source_id) > SOURCE_ID_MAX:
        raise ValidationFailed(
            "source_id is 1–200 characters.", field="source_id", code="invalid_source_id"
        )
    existing = Event.objects.filter(created_by=actor, source_id=source_id).first()
    if existing is not None:
        return existing, False
    if type not in EVENT_TYPES:
        raise ValidationFailed(
            f"Unknown event type {type!r}.", field="type", code="unknown_event_type"
        )
    if type == BROADCAST and actor.role not in STAFF_ROLES:
        # A broadcast's whole text is the sender's: only staff write to customers freely.
        raise PermissionDenied("Only staff send broadcasts.")
    subject_kind, subject_value = _subject_parse(subject)
    payload = dict(payload or {})
    if len(json.dumps(payload, default=str)) > PAYLOAD_MAX_BYTES:
        raise ValidationFailed(
            "The payload is too large.", field="payload", code="payload_too_large"
        )
    try:
        with transaction.atomic():
            event = Event.objects.create(
                type=type,
                source_id=source_id,
                created_by=actor,
                subject_kind=subject_kind,
                subject=subject_value,
                payload=payload,
                critical=critical,
                received_at=clock.now(),
            )
            enqueue_on_commit(tasks.event_fan_out, event.pk)
    except IntegrityError:  # the same source id, sent twice at once: the other one won
        return Event.objects.get(created_by=actor, source_id=source_id), False
    logger.info("notifications.event.accepted", extra={"event": event.public_id, "type": type})
    return event, True


def event_system_accept(
    *,
    type: str,
    source_id: str,
    customer: Customer,
    payload: Mapping[str, Any] | None = None,
) -> tuple[Event, bool]:
    """Store an event the app makes itself (a reminder firing) for one customer and fan it out
    after commit. It has no sender; a source id already stored returns that event (created
    False), so a re-run sends nothing again."""
    source_id = (source_id or "").strip()
    if not source_id or len(source_id) > SOURCE_ID_MAX:
        raise ValidationFailed(
            "source_id is 1–200 characters.", field="source_id", code="invalid_source_id"
        )
    system = Event.objects.filter(created_by__isnull=True)
    existing = system.filter(source_id=source_id).first()
    if existing is not None:
        return existing, False
    if type not in EVENT_TYPES:
        raise ValidationFailed(
            f"Unknown event type {type!r}.", field="type", code="unknown_event_type"
        )
    subject = customer.public_id
    if customer.merged_into_id is not None:
        subject = Customer.objects.values_list("public_id", flat=True).get(
            pk=customer.merged_into_id
        )
    payload = dict(payload or {})
    if len(json.dumps(payload, default=str)) > PAYLOAD_MAX_BYTES:
        raise ValidationFailed(
            "The payload is too large.", field="payload", code="payload_too_large"
        )
    try:
        with transaction.atomic():
            event = Event.objects.create(
                type=type,
                source_id=source_id,
                created_by=None,
                subject_kind=Event.SubjectKind.CUSTOMER,
                subject=subject,
                payload=payload,
                received_at=clock.now(),
            )
            enqueue_on_commit(tasks.event_fan_out, event.pk)
    except IntegrityError:  # the same source id, made twice at once: the other one won
        return system.get(source_id=source_id), False
    logger.info("notifications.event.accepted", extra={"event": event.public_id, "type": type})
    return event, True
