"""Messaging writes: channels; inbound events (stored raw first, processed by a task); the
outbox of outbound messages (queued in the caller's transaction, sent by a task, reconciled after
a crash, updated by receipts)."""

import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from pocketdesk.accounts.models import Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import ContactPoint, Customer, Purpose
from pocketdesk.customers.services import consent_set, customer_for_contact
from pocketdesk.messaging.adapters import ParsedMessage, ParsedStatus, SendError, adapter_for
from pocketdesk.messaging.handlers import (
    InboundMessage,
    OutboundStatusChange,
    inbound_handlers,
    status_handlers,
)
from pocketdesk.messaging.models import Channel, InboundEvent, Outbound

logger = logging.getLogger(__name__)


def _send_timeout() -> timedelta:
    """A row SENDING for longer was interrupted by a crash and is reconciled with the provider.
    Must exceed the adapters' HTTP timeouts (15 s)."""
    return timedelta(seconds=settings.PD_SEND_TIMEOUT_SECONDS)


MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 3600
# How long a queued row or a stored event may wait for its task before the sweeper steps in.
SWEEP_GRACE = timedelta(seconds=15)
# A receipt for an id no send has recorded (a message sent outside pocketdesk) is dropped then.
RECEIPT_WAIT = timedelta(minutes=10)


def channel_create(
    *,
    actor: User | None,
    kind: str,
    name: str,
    address: str,
    credentials: Mapping[str, str],
    api_base: str = "",
) -> Channel:
    """Configure a provider account. `actor` None is the local CLI. The adapter checks the
    address and requires the secret that verifies the channel's webhooks."""
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins configure channels.")
    adapter = adapter_for(kind)
    if adapter is None:
        raise ValidationFailed(f"Unknown channel kind {kind!r}.", field="kind")
    address, checked = adapter.channel_check(address, credentials)
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                kind=kind,
                name=name[:100],
                address=address,
                api_base=api_base,
                credentials=checked,
                created_at=clock.now(),
            )
            audit_record(actor=actor, action="channel.created", target=channel)
    except IntegrityError as exc:
        raise Conflict(f"A {kind} channel for {address} exists.", code="channel_exists") from exc
    return channel


def inbound_event_store(
    *, channel: Channel, kind: str, provider_event_id: str | None, payload: Mapping[str, Any]
) -> tuple[InboundEvent, bool]:
    """Keep the webhook as received; a replay of the same provider id is stored once.
    Returns the event and whether it is new (the caller then enqueues its processing)."""
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                channel=channel,
                kind=kind,
                provider_event_id=provider_event_id or None,
                payload=dict(payload),
                received_at=clock.now(),
            )
            return event, True
    except IntegrityError:
        existing = InboundEvent.objects.get(
            channel=channel, kind=kind, provider_event_id=provider_event_id
        )
        return existing, False


def _event_fail(event: InboundEvent, detail: str) -> InboundEvent:
    # Kept, not retried: the same payload would fail the same way.
    event.state, event.error, event.processed_at = (
        InboundEvent.State.FAILED,
        detail[:1000],
        clock.now(),
    )
    event.save(update_fields=["state", "error", "processed_at"])
    return event


def _keyword_apply(customer: Customer, word: str | None) -> None:
    if word not in {"stop", "start"}:
        return
    for purpose in Purpose.values:
        if word == "start" and purpose == Purpose.MARKETING:
            continue  # re-subscribing to service texts is not consent to marketing
        consent_set(
            actor=None,
            customer=customer,
            purpose=purpose,
            granted=word == "start",
            source="sms_keyword",
        )


def _message_deliver(event: InboundEvent, parsed: ParsedMessage) -> None:
    customer, point = customer_for_contact(kind=parsed.sender_kind, value=parsed.sender)
    if parsed.sender_name and not customer.name:
        Customer.objects.filter(pk=customer.pk, name="").update(name=parsed.sender_name[:200])
    _keyword_apply(customer, parsed.keyword)
    message = InboundMessage(
        channel_id=event.channel_id,
        customer_id=customer.pk,
        contact_point_id=point.pk,
        text=parsed.text,
        provider_id=parsed.provider_id,
        received_at=event.received_at,
        media=parsed.media,
        kind=parsed.kind,
        data=parsed.data,
        references=parsed.references,
        subject=parsed.subject,
    )
    for handler in inbound_handlers():
        handler(message)


def inbound_event_process(*, event_id: int) -> InboundEvent:
    """Turn a stored event into inbound messages for the handlers and receipts for our outbound
    messages. Runs once per event; a receipt that arrives before the send has recorded the
    provider's id stays pending and is applied when the id is recorded."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().select_related("channel").get(pk=event_id)
        if event.state != InboundEvent.State.PENDING:
            return event
        adapter = adapter_for(event.channel.kind)
        if adapter is None:
            return _event_fail(event, f"No adapter for {event.channel.kind}.")
        waiting = False
        try:
            with transaction.atomic():  # a savepoint: a refused sender undoes the whole event
                for parsed in adapter.parse(event):
                    if isinstance(parsed, ParsedStatus):
                        waiting |= not _status_apply(event.channel, parsed)
                    else:
                        _message_deliver(event, parsed)
        except ValidationFailed as error:
            return _event_fail(event, error.detail)
        if waiting and event.received_at < clock.now() - RECEIPT_WAIT:
            return _event_fail(event, "No outbound message has this provider id.")
        if waiting:
            event.error = "waiting for the send to record the provider id"
            event.save(update_fields=["error"])
            return event
        event.state = InboundEvent.State.PROCESSED
        event.processed_at = clock.now()
        event.error = ""
        event.save(update_fields=["state", "processed_at", "error"])
    return event


# Receipts may arrive out of order (Twilio does not promise order): a status only moves forward.
_RANK: dict[str, int] = {
    Outbound.Status.QUEUED: 0,
    Outbound.Status.SENDING: 1,
    Outbound.Status.SENT: 2,
    Outbound.Status.DELIVERED: 3,
    Outbound.Status.READ: 4,
    Outbound.Status.UNDELIVERED: 5,
    Outbound.Status.FAILED: 5,
}
_FINAL_FAILURES = {Outbound.Status.UNDELIVERED, Outbound.Status.FAILED}


def _status_move(outbound: Outbound, status: str) -> bool:
    current = outbound.status
    if status in _FINAL_FAILURES:
        return current not in _FINAL_FAILURES and _RANK[current] < _RANK[Outbound.Status.DELIVERED]
    return current not in _FINAL_FAILURES and _RANK[status] > _RANK[current]


def _status_set(
    outbound: Outbound, status: str, *, error_code: str = "", error_detail: str = ""
) -> None:
    """Write a status change and tell the handlers (inside the caller's transaction)."""
    previous = outbound.status
    outbound.status = status
    outbound.error_code = error_code[:60]
    outbound.error_detail = error_detail[:500]
    outbound.updated_at = clock.now()
    outbound.save(
        update_fields=["status", "error_code", "error_detail", "updated_at", "provider_id"]
    )
    change = OutboundStatusChange(
        outbound_id=outbound.pk, status=status, previous=previous, error_code=outbound.error_code
    )
    for handler in status_handlers():
        handler(change)


def _status_apply(channel: Channel, parsed: ParsedStatus) -> bool:
    """Apply a receipt; False when no outbound message has its provider id yet."""
    outbound = (
        Outbound.objects.select_for_update()
        .filter(channel=channel, provider_id=parsed.provider_id)
        .first()
    )
    if outbound is None:
        return False
    if _status_move(outbound, parsed.status):
        _status_set(
            outbound, parsed.status, error_code=parsed.error_code, error_detail=parsed.error_detail
        )
    return True


def outbound_queue(
    *,
    channel: Channel,
    recipient: str,
    text: str = "",
    media: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
    contact_point: ContactPoint | None = None,
) -> Outbound:
    """Put a message in the outbox, inside the caller's transaction: it is sent only if that
    transaction commits. The caller enqueues `tasks.outbound_send` on commit; the sweeper
    picks up anything whose task was lost."""
    if not channel.is_active:
        raise ValidationFailed("This channel is switched off.", code="channel_inactive")
    now = clock.now()
    return Outbound.objects.create(
        channel=channel,
        recipient=recipient,
        contact_point=contact_point,
        text=text,
        media=[dict(item) for item in media],
        extra=dict(extra or {}),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def _backoff(attempts: int) -> timedelta:
    # 30 s, 1 min, 2 min, … capped at an hour, with ±20% jitter so retries do not bunch up.
    base = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_CAP_SECONDS)
    return timedelta(seconds=base * (0.8 + 0.4 * secrets.randbelow(1000) / 1000))


def _early_receipts_enqueue(outbound: Outbound) -> list[int]:
    """Receipts stored before the provider id was recorded, to process again."""
    return list(
        InboundEvent.objects.filter(
            channel_id=outbound.channel_id,
            kind="status",
            state=InboundEvent.State.PENDING,
            provider_event_id__startswith=f"{outbound.provider_id}:",
        ).values_list("pk", flat=True)
    )


def outbound_attempt(*, outbound_id: int) -> tuple[Outbound, list[int]]:
    """Try to send one outbox message. Returns the row and the ids of early receipts to
    process. Safe to run twice and after a crash: the row is marked SENDING (and committed)
    before the provider is called, and a row found SENDING is first reconciled with the
    provider, so the customer gets the message once."""
    now = clock.now()
    with transaction.atomic():
        outbound = (
            Outbound.objects.select_for_update().select_related("channel").get(pk=outbound_id)
        )
        if outbound.status not in (Outbound.Status.QUEUED, Outbound.Status.SENDING):
            return outbound, []
        if outbound.next_attempt_at > now:
            return outbound, []
        uncertain = outbound.status == Outbound.Status.SENDING
        started = outbound.attempt_started_at
        if uncertain and started is not None and started > now - _send_timeout():
            return outbound, []  # another worker may still be waiting for the provider
        outbound.status = Outbound.Status.SENDING
        outbound.attempt_started_at = now
        outbound.attempts += 1
        outbound.updated_at = now
        outbound.save(update_fields=["status", "attempt_started_at", "attempts", "updated_at"])
    channel = outbound.channel
    adapter = adapter_for(channel.kind)
    provider_id: str | None = None
    error: SendError | None = None
    if adapter is None:
        error = SendError("no_adapter", f"No adapter for {channel.kind}.", retryable=False)
    else:
        try:
            if uncertain:
                provider_id = adapter.find_sent(channel, outbound)
            if provider_id is None:
                provider_id = adapter.send(channel, outbound)
        except SendError as exc:
            error = exc
    with transaction.atomic():
        outbound = (
            Outbound.objects.select_for_update().select_related("channel").get(pk=outbound_id)
        )
        if outbound.status != Outbound.Status.SENDING:
            return outbound, []
        if provider_id is not None:
            outbound.provider_id = provider_id
            _status_set(outbound, Outbound.Status.SENT)
            logger.info(
                "messaging.outbound.sent",
                extra={"outbound": outbound.public_id, "attempts": outbound.attempts},
            )
            early = _early_receipts_enqueue(outbound)
            return outbound, early
        if error is None:  # an adapter returned no id without raising: treat as retryable
            error = SendError("no_provider_id", "The provider gave no message id.", retryable=True)
        if error.retryable and outbound.attempts < MAX_ATTEMPTS:
            outbound.status = Outbound.Status.QUEUED
            outbound.next_attempt_at = clock.now() + _backoff(outbound.attempts)
            outbound.error_code, outbound.error_detail = error.code[:60], error.detail[:500]
            outbound.updated_at = clock.now()
            outbound.save(
                update_fields=[
                    "status",
                    "next_attempt_at",
                    "error_code",
                    "error_detail",
                    "updated_at",
                ]
            )
            logger.warning(
                "messaging.outbound.retry",
                extra={"outbound": outbound.public_id, "code": error.code},
            )
            return outbound, []
        _status_set(
            outbound, Outbound.Status.FAILED, error_code=error.code, error_detail=error.detail
        )
        logger.warning(
            "messaging.outbound.failed", extra={"outbound": outbound.public_id, "code": error.code}
        )
    return outbound, []


def outbound_due(*, limit: int = 500) -> list[int]:
    """Outbox rows to (re)try now: retries whose backoff is over, rows whose task was lost,
    and sends a crash left SENDING for longer than PD_SEND_TIMEOUT_SECONDS."""
    now = clock.now()
    due = Outbound.objects.filter(
        Q(status=Outbound.Status.QUEUED, next_attempt_at__lte=now - SWEEP_GRACE)
        | Q(status=Outbound.Status.SENDING, attempt_started_at__lte=now - _send_timeout())
    ).order_by("next_attempt_at")
    return list(due.values_list("pk", flat=True)[:limit])


def inbound_events_stalled(*, limit: int = 500) -> list[int]:
    """Stored events still pending after a while: their task was lost (a killed worker) or
    they wait for a send to record its provider id."""
    cutoff = clock.now() - SWEEP_GRACE
    stalled = InboundEvent.objects.filter(
        state=InboundEvent.State.PENDING, received_at__lte=cutoff
    ).order_by("received_at")
    return list(stalled.values_list("pk", flat=True)[:limit])
