"""Messaging writes: channels; inbound events (stored raw first, processed by a task); the
outbox of outbound messages (queued in the caller's transaction, sent by a task, reconciled after
a crash, updated by receipts)."""

import logging
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q

from pocketdesk.accounts.models import Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import ContactPoint, Customer, Purpose
from pocketdesk.customers.services import consent_set, customers_for_contacts
from pocketdesk.messaging.adapters import (
    Adapter,
    BatchSender,
    Parsed,
    ParsedMessage,
    ParsedStatus,
    SendError,
    adapter_for,
)
from pocketdesk.messaging.handlers import (
    InboundMessage,
    OutboundStatusChange,
    inbound_handlers,
    status_batch_handlers,
    status_handlers,
)
from pocketdesk.messaging.models import Channel, InboundDrain, InboundEvent, Outbound

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
WAITING = "waiting for the send to record the provider id"
# Stored events processed per transaction.
BATCH_SIZE = 200
# A drain asked for this long ago and not begun lost its task (a killed process): ask again.
DRAIN_REQUEST_STALE = timedelta(seconds=10)
# Outbox rows a statement of `outbound_queue_many` inserts.
QUEUE_INSERT_ROWS = 1_000
# A batch send starts no new message after this share of PD_SEND_TIMEOUT_SECONDS: what it
# claimed must be written back before another worker would take it for a crashed send.
BATCH_SEND_SHARE = 0.5
# A batch writes its results back every this many messages: a crash re-sends at most these
# (e-mail; SMTP cannot be asked what it took), at the cost of a transaction each.
WRITE_BACK_ROWS = 20


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


def channel_update(
    *,
    actor: User,
    channel: Channel,
    name: str | None = None,
    is_active: bool | None = None,
    api_base: str | None = None,
) -> Channel:
    """Rename, switch on/off or repoint a channel. Credentials are replaced by adding anew."""
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins configure channels.")
    changed = []
    for field, value in (("name", name), ("is_active", is_active), ("api_base", api_base)):
        if value is not None:
            setattr(channel, field, value)
            changed.append(field)
    if changed:
        with transaction.atomic():
            channel.save(update_fields=changed)
            audit_record(actor=actor, action="channel.updated", target=channel)
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


def inbound_drain_request() -> bool:
    """Ask for a drain after storing an event; True when the caller must enqueue it (nobody
    else has asked since the last drain began). Call after the event is committed."""
    now = clock.now()
    asked = InboundDrain.objects.filter(pk=1).values_list("requested_at", flat=True).first()
    if asked is not None and asked > now - DRAIN_REQUEST_STALE:
        return False  # the drain asked for has not begun: it will read this event
    claimed = (
        InboundDrain.objects.filter(pk=1)
        .filter(Q(requested_at__isnull=True) | Q(requested_at__lte=now - DRAIN_REQUEST_STALE))
        .update(requested_at=now)
    )
    if claimed:
        return True
    _, created = InboundDrain.objects.get_or_create(pk=1, defaults={"requested_at": now})
    return created


def inbound_drain() -> int:
    """Process pending events in batches until a batch comes back short. Resets the request
    first: an event stored after that asks for (and gets) a drain of its own."""
    InboundDrain.objects.filter(pk=1).update(requested_at=None)
    total = 0
    while True:
        taken = inbound_events_process(limit=BATCH_SIZE)
        total += taken
        if taken < BATCH_SIZE:
            return total


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


def _messages_deliver(items: Sequence[tuple[InboundEvent, ParsedMessage]]) -> dict[int, str]:
    """Resolve the senders of a batch, apply consent keywords, hand the messages to the
    handlers. Returns the events whose sender was refused, with the reason."""
    refused: dict[int, str] = {}
    resolved = customers_for_contacts([(parsed.sender_kind, parsed.sender) for _, parsed in items])
    messages: list[InboundMessage] = []
    for (event, parsed), result in zip(items, resolved, strict=True):
        if isinstance(result, ValidationFailed):
            refused[event.pk] = result.detail
            continue
        customer, point = result
        if parsed.sender_name and not customer.name:
            Customer.objects.filter(pk=customer.pk, name="").update(name=parsed.sender_name[:200])
            customer.name = parsed.sender_name[:200]
        _keyword_apply(customer, parsed.keyword)
        messages.append(
            InboundMessage(
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
        )
    if messages:
        for handler in inbound_handlers():
            handler(messages)
    return refused


Parsing = list[Parsed] | str  # what an event parsed into, or why it cannot be


def _parse(event: InboundEvent) -> Parsing:
    adapter = adapter_for(event.channel.kind)
    if adapter is None:
        return f"No adapter for {event.channel.kind}."
    try:
        return adapter.parse(event)
    except ValidationFailed as error:
        return error.detail
    except Exception as error:  # a payload the adapter cannot read: kept as failed, logged
        logger.exception("messaging.inbound.parse_failed", extra={"event": event.pk})
        return f"{type(error).__name__}: {error}"[:1000]


def _events_process(events: Sequence[InboundEvent], parsings: Mapping[int, Parsing]) -> None:
    """Process locked pending events together: receipts, messages, then mark each
    processed, failed, or waiting (a receipt for a send that has not recorded its id yet)."""
    failed: dict[int, str] = {}
    waiting: set[int] = set()
    messages: list[tuple[InboundEvent, ParsedMessage]] = []
    for event in events:
        parsed_items = parsings[event.pk] if event.pk in parsings else _parse(event)
        if isinstance(parsed_items, str):
            failed[event.pk] = parsed_items
            continue
        for parsed in parsed_items:
            if isinstance(parsed, ParsedStatus):
                if not _status_apply(event.channel, parsed):
                    waiting.add(event.pk)
            else:
                messages.append((event, parsed))
    failed.update(_messages_deliver(messages))
    now = clock.now()
    for event in events:
        if event.pk in waiting and event.received_at < now - RECEIPT_WAIT:
            failed[event.pk] = "No outbound message has this provider id."
    for event_id, detail in failed.items():
        # Kept, not retried: the same payload would fail the same way.
        InboundEvent.objects.filter(pk=event_id).update(
            state=InboundEvent.State.FAILED, error=detail[:1000], processed_at=now
        )
    still_waiting = waiting - failed.keys()
    if still_waiting:
        InboundEvent.objects.filter(pk__in=still_waiting).update(error=WAITING)
    done = [event.pk for event in events if event.pk not in failed and event.pk not in waiting]
    InboundEvent.objects.filter(pk__in=done).update(
        state=InboundEvent.State.PROCESSED, processed_at=now, error=""
    )


def inbound_events_process(*, event_ids: Sequence[int] = (), limit: int = BATCH_SIZE) -> int:
    """Process the given stored events and other pending ones (oldest first, up to `limit`) in
    one transaction: a burst of webhooks costs a few queries per batch, not per message.
    Receipts that arrived before their send recorded the provider's id wait (they are replayed
    when it is recorded); they are only taken again when asked for by id. An event that breaks
    the batch is retried alone, and kept as failed with the error if it breaks again.
    Returns how many events were taken.

    Events are parsed before the transaction: adapters may download media (seconds), which
    must not hold the database's write lock; what another worker took meanwhile is skipped."""
    pending = InboundEvent.objects.filter(state=InboundEvent.State.PENDING)
    ahead = list(pending.filter(pk__in=list(event_ids)).select_related("channel"))
    room = limit - len(ahead)
    if room > 0:
        fresh = pending.filter(error="").exclude(pk__in=list(event_ids)).order_by("pk")
        ahead += list(fresh.select_related("channel")[:room])
    parsings = {event.pk: _parse(event) for event in ahead}
    with transaction.atomic():
        # of=self: lock the events, not their channel (webhooks keep inserting against it).
        locked = pending.select_for_update(skip_locked=True, of=("self",)).select_related("channel")
        events = list(locked.filter(pk__in=list(parsings)).order_by("pk"))
        if not events:
            return 0
        try:
            with transaction.atomic():
                _events_process(events, parsings)
        except Exception:
            logger.exception("messaging.inbound.batch_failed", extra={"events": len(events)})
            for event in events:
                try:
                    with transaction.atomic():
                        _events_process([event], parsings)
                except DatabaseError:
                    raise  # passing trouble (a lock, a deadlock): left pending for a retry
                except Exception as error:
                    logger.exception("messaging.inbound.event_failed", extra={"event": event.pk})
                    InboundEvent.objects.filter(pk=event.pk).update(
                        state=InboundEvent.State.FAILED,
                        error=f"{type(error).__name__}: {error}"[:1000],
                        processed_at=clock.now(),
                    )
    return len(events)


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
    _statuses_tell([change])


def _statuses_tell(changes: Sequence[OutboundStatusChange]) -> None:
    """Hand status changes to the apps' handlers (inside the caller's transaction): all at
    once to batch handlers, one by one to the others."""
    if not changes:
        return
    for batch_handler in status_batch_handlers():
        batch_handler(changes)
    for handler in status_handlers():
        for change in changes:
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


def outbound_mark(*, outbound: Outbound, status: str) -> bool:
    """A receipt our own app reports (web chat: the customer's app fetched or read the reply).
    Moves forward only, like a provider's receipt; False when the status would not move."""
    with transaction.atomic():
        outbound = Outbound.objects.select_for_update().get(pk=outbound.pk)
        if not _status_move(outbound, status):
            return False
        _status_set(outbound, status)
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


@dataclass(frozen=True)
class OutboundItem:
    """One message for `outbound_queue_many`: what `outbound_queue` takes."""

    channel: Channel
    recipient: str
    text: str = ""
    media: Sequence[Mapping[str, Any]] = ()
    extra: Mapping[str, Any] | None = None
    contact_point: ContactPoint | None = None


def outbound_queue_many(items: Sequence[OutboundItem]) -> list[Outbound]:
    """Put many messages in the outbox with one multi-row INSERT, inside the caller's
    transaction (as `outbound_queue`). Returns the rows, with their pks, in the items' order;
    the caller enqueues `tasks.outbound_send_batch` on commit with chunks of their ids (a few
    hundred a task), and the sweeper picks up anything whose task was lost."""
    if not items:
        return []
    if any(not item.channel.is_active for item in items):
        raise ValidationFailed("This channel is switched off.", code="channel_inactive")
    now = clock.now()
    rows = [
        Outbound(
            channel=item.channel,
            recipient=item.recipient,
            contact_point=item.contact_point,
            text=item.text,
            media=[dict(medium) for medium in item.media],
            extra=dict(item.extra or {}),
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        for item in items
    ]
    return Outbound.objects.bulk_create(rows, batch_size=QUEUE_INSERT_ROWS)


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
            Outbound.objects.select_for_update(of=("self",))
            .select_related("channel")
            .get(pk=outbound_id)
        )
        if outbound.status not in (Outbound.Status.QUEUED, Outbound.Status.SENDING):
            return outbound, []
        if outbound.next_attempt_at > now:
            return outbound, []
        uncertain = outbound.status == Outbound.Status.SENDING
        started = outbound.attempt_started_at
        if uncertain and started is not None and started > now - _send_timeout():
            return outbound, []  # another worker may still be waiting for the provider
        if uncertain and outbound.attempts >= MAX_ATTEMPTS:
            _status_set(
                outbound,
                Outbound.Status.FAILED,
                error_code="attempts_exhausted",
                error_detail=f"{outbound.attempts} attempts were cut short.",
            )
            return outbound, []
        outbound.status = Outbound.Status.SENDING
        outbound.attempt_started_at = now
        outbound.attempts += 1
        outbound.updated_at = now
        outbound.save(update_fields=["status", "attempt_started_at", "attempts", "updated_at"])
    channel = outbound.channel
    attempt = outbound.attempt_started_at
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
        except Exception as exc:  # an adapter bug or an unexpected answer: retried, logged
            logger.exception("messaging.outbound.adapter_error", extra={"outbound": outbound_id})
            error = SendError("adapter_error", f"{type(exc).__name__}: {exc}"[:300], retryable=True)
    with transaction.atomic():
        outbound = (
            Outbound.objects.select_for_update(of=("self",))
            .select_related("channel")
            .get(pk=outbound_id)
        )
        if outbound.status != Outbound.Status.SENDING or outbound.attempt_started_at != attempt:
            # A receipt or another attempt (after ours outlasted the send timeout) moved it on.
            if provider_id is not None and outbound.provider_id is None:
                logger.warning(
                    "messaging.outbound.late_attempt", extra={"outbound": outbound.public_id}
                )
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


@dataclass
class OutboundBatch:
    """What `outbound_attempt_many` did: the rows it wrote back, the early receipts to process
    again, and the claimed rows it did not get to before its deadline (put back as they were,
    for another task)."""

    outbounds: list[Outbound]
    early_receipts: list[int]
    untried: list[int]


# A claimed row as it was before the claim: (status, attempt_started_at).
_Before = tuple[str, datetime | None]


def _outbound_claim(
    outbound_ids: Sequence[int], now: datetime
) -> tuple[list[Outbound], dict[int, _Before]]:
    """Mark the rows that are due SENDING in one UPDATE and commit: from then on a crash
    leaves them to be reconciled. Rows another worker holds or is still sending are skipped;
    a row a crash left SENDING is taken again (its `before` status says so) unless its attempts
    are used up."""
    with transaction.atomic():
        rows = list(
            Outbound.objects.select_for_update(skip_locked=True)
            .filter(
                pk__in=list(outbound_ids),
                status__in=[Outbound.Status.QUEUED, Outbound.Status.SENDING],
                next_attempt_at__lte=now,
            )
            .order_by("pk")
        )
        # The few channels once, not a copy (credentials parsed) with every row.
        channels = Channel.objects.in_bulk({row.channel_id for row in rows})
        for row in rows:
            row.channel = channels[row.channel_id]
        stale_before = now - _send_timeout()
        claimed: list[Outbound] = []
        before: dict[int, _Before] = {}
        for row in rows:
            started = row.attempt_started_at
            if row.status == Outbound.Status.SENDING:
                if started is not None and started > stale_before:
                    continue  # another worker may still be waiting for the provider
                if row.attempts >= MAX_ATTEMPTS:
                    _status_set(
                        row,
                        Outbound.Status.FAILED,
                        error_code="attempts_exhausted",
                        error_detail=f"{row.attempts} attempts were cut short.",
                    )
                    continue
            before[row.pk] = (row.status, started)
            claimed.append(row)
        if claimed:
            Outbound.objects.filter(pk__in=list(before)).update(
                status=Outbound.Status.SENDING,
                attempt_started_at=now,
                attempts=F("attempts") + 1,
                updated_at=now,
            )
        for row in claimed:
            row.status = Outbound.Status.SENDING
            row.attempt_started_at = now
            row.attempts += 1
            row.updated_at = now
    return claimed, before


def _send_one(adapter: Adapter, channel: Channel, outbound: Outbound) -> str | SendError:
    try:
        provider_id = adapter.send(channel, outbound)
    except SendError as exc:
        return exc
    except Exception as exc:  # an adapter bug or an unexpected answer: retried, logged
        logger.exception("messaging.outbound.adapter_error", extra={"outbound": outbound.pk})
        return SendError("adapter_error", f"{type(exc).__name__}: {exc}"[:300], retryable=True)
    if not provider_id:
        return SendError("no_provider_id", "The provider gave no message id.", retryable=True)
    return provider_id


def _channel_send(
    channel: Channel, rows: Sequence[Outbound], uncertain: set[int], deadline: float
) -> Iterator[tuple[Outbound, str | SendError]]:
    """Send one channel's claimed rows, yielding each row's result as it comes. Rows a crash
    left uncertain (few: only after a crash) go first, one at a time: looked up at the provider
    (`find_sent`), sent at once if it does not have them. The rest go through the adapter's
    `send_many` (one connection) or, without one, `send` each. No row is started after the
    deadline, except the batch's first (so that every batch moves on); the rows it yields
    nothing for were not tried."""
    adapter = adapter_for(channel.kind)
    if adapter is None:
        error = SendError("no_adapter", f"No adapter for {channel.kind}.", retryable=False)
        for row in rows:
            yield row, error
        return
    started = False

    def may_start() -> bool:
        nonlocal started
        go = not started or time.monotonic() <= deadline
        started = True
        return go

    to_send: list[Outbound] = []
    for row in rows:
        if row.pk not in uncertain:
            to_send.append(row)
            continue
        if not may_start():
            return
        try:
            found = adapter.find_sent(channel, row)
        except SendError as exc:
            yield row, exc
            continue
        except Exception as exc:
            logger.exception("messaging.outbound.adapter_error", extra={"outbound": row.pk})
            detail = f"{type(exc).__name__}: {exc}"[:300]
            yield row, SendError("adapter_error", detail, retryable=True)
            continue
        yield row, found if found is not None else _send_one(adapter, channel, row)
    if not to_send:
        return
    if not isinstance(adapter, BatchSender):
        for row in to_send:
            if not may_start():
                return
            yield row, _send_one(adapter, channel, row)
        return
    if started and time.monotonic() > deadline:
        return  # (send_many always sends its first message)
    done = 0
    results = adapter.send_many(channel, to_send, deadline=deadline)
    try:
        for result in results:
            if isinstance(result, str) and not result:
                result = SendError(
                    "no_provider_id", "The provider gave no message id.", retryable=True
                )
            yield to_send[done], result
            done += 1
    except Exception as exc:  # an adapter bug: the rows it did not answer for are retried
        logger.exception("messaging.outbound.adapter_error", extra={"rows": len(to_send) - done})
        error = SendError("adapter_error", f"{type(exc).__name__}: {exc}"[:300], retryable=True)
        for row in to_send[done:]:
            yield row, error
    finally:
        close = getattr(results, "close", None)
        if close is not None:  # a generator: its connection is closed now, not when collected
            close()


_WRITTEN_FIELDS = [
    "status",
    "provider_id",
    "attempts",
    "attempt_started_at",
    "next_attempt_at",
    "error_code",
    "error_detail",
    "updated_at",
]


def _outcome_apply(row: Outbound, result: str | SendError | None, before: _Before) -> None:
    """Set a claimed row's fields from its send's result (None: not tried)."""
    now = clock.now()
    row.updated_at = now
    if result is None:  # as it was before the claim, for another task to take
        row.status, row.attempt_started_at = before
        row.attempts -= 1
    elif isinstance(result, str):
        row.provider_id = result
        row.status = Outbound.Status.SENT
        row.error_code = row.error_detail = ""
    elif result.retryable and row.attempts < MAX_ATTEMPTS:
        row.status = Outbound.Status.QUEUED
        row.next_attempt_at = now + _backoff(row.attempts)
        row.error_code, row.error_detail = result.code[:60], result.detail[:500]
    else:
        row.status = Outbound.Status.FAILED
        row.error_code, row.error_detail = result.code[:60], result.detail[:500]


def _sent_save(rows: Sequence[Outbound]) -> None:
    """Mark sent rows SENT with their provider ids: one UPDATE … FROM (VALUES …) (PostgreSQL,
    and SQLite since 3.33), not bulk_update, whose CASE expressions took a tenth of a batch's
    time to build; the values are bound parameters (cast to the columns' types on PostgreSQL,
    which may bind them untyped)."""
    ops = connection.ops
    fields = {field.name: field for field in Outbound._meta.concrete_fields}

    def column(name: str) -> str:
        return ops.quote_name(str(fields[name].column))

    def value(index: int, name: str) -> str:
        if connection.vendor != "postgresql":
            return f"v.column{index}"
        return f"CAST(v.column{index} AS {fields[name].db_type(connection)})"

    table = ops.quote_name(Outbound._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(rows))
    sql = (
        f"UPDATE {table} SET {column('status')} = %s, {column('error_code')} = '', "  # noqa: S608
        f"{column('error_detail')} = '', {column('updated_at')} = %s, "
        f"{column('provider_id')} = {value(2, 'provider_id')} FROM (VALUES {values}) AS v "
        f"WHERE {table}.{column('id')} = {value(1, 'id')}"
    )
    params: list[Any] = [
        Outbound.Status.SENT,
        ops.adapt_datetimefield_value(rows[0].updated_at),
    ]
    for row in rows:
        params += [row.pk, row.provider_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _outcomes_save(rows: Sequence[Outbound]) -> list[Outbound]:
    """Write the rows back: the sent ones (nearly all) in one UPDATE, the others with
    bulk_update. Returns the rows saved; one whose provider id another row already holds (the
    unique constraint) is left SENDING, to be reconciled, and logged."""
    sent = [row for row in rows if row.status == Outbound.Status.SENT]
    others = [row for row in rows if row.status != Outbound.Status.SENT]
    try:
        with transaction.atomic():
            if sent:
                _sent_save(sent)
            if others:
                Outbound.objects.bulk_update(others, _WRITTEN_FIELDS)
        return list(rows)
    except IntegrityError:
        logger.warning("messaging.outbound.batch_save_conflict", extra={"rows": len(rows)})
    saved: list[Outbound] = []
    for row in rows:
        try:
            with transaction.atomic():
                row.save(update_fields=_WRITTEN_FIELDS)
        except IntegrityError:
            logger.warning(
                "messaging.outbound.provider_id_taken",
                extra={"outbound": row.public_id, "provider_id": row.provider_id},
            )
            continue
        saved.append(row)
    return saved


def _early_receipts_many(sent: Sequence[Outbound]) -> list[int]:
    """Receipts stored before these rows recorded their provider ids, to process again."""
    if not sent:
        return []
    pending = InboundEvent.objects.filter(
        kind="status",
        state=InboundEvent.State.PENDING,
        channel_id__in={row.channel_id for row in sent},
    )
    if not pending.exists():
        return []
    prefixes = Q()
    for row in sent:
        prefixes |= Q(
            channel_id=row.channel_id, provider_event_id__startswith=f"{row.provider_id}:"
        )
    return list(pending.filter(prefixes).values_list("pk", flat=True))


def _statuses_tell_contained(changes: Sequence[OutboundStatusChange]) -> None:
    """Tell the handlers about a batch's outcomes without letting a handler's failure undo
    them: the provider has the messages, and a batch rolled back would send them all again
    (e-mail cannot be asked). A failing batch is told again one change at a time, each in a
    savepoint; the changes a handler still fails on are logged and left out."""
    try:
        with transaction.atomic():
            _statuses_tell(changes)
        return
    except Exception:
        if len(changes) == 1:
            logger.exception(
                "messaging.outbound.status_handler_failed",
                extra={"outbound": changes[0].outbound_id},
            )
            return
    for change in changes:
        try:
            with transaction.atomic():
                _statuses_tell([change])
        except Exception:
            logger.exception(
                "messaging.outbound.status_handler_failed", extra={"outbound": change.outbound_id}
            )


def _outcomes_write(
    results: Sequence[tuple[Outbound, str | SendError | None]],
    attempt: datetime,
    before: Mapping[int, _Before],
) -> tuple[list[Outbound], list[int]]:
    """Write back a group of a batch's results in one transaction (None: not tried): only rows
    still SENDING from this attempt (a receipt, or another attempt after ours outlasted the
    send timeout, may have moved one on). Returns the rows written and early receipts."""
    with transaction.atomic():
        current = (
            Outbound.objects.select_for_update()
            .filter(pk__in=[row.pk for row, _ in results])
            .order_by("pk")
            .values_list("pk", "status", "attempt_started_at", "provider_id")
        )
        still = {pk: (status, started, provider_id) for pk, status, started, provider_id in current}
        ours: list[Outbound] = []
        for row, result in results:
            status, started, provider_id = still.get(row.pk, ("", None, None))
            if status != Outbound.Status.SENDING or started != attempt:
                if isinstance(result, str) and provider_id is None:
                    logger.warning(
                        "messaging.outbound.late_attempt", extra={"outbound": row.public_id}
                    )
                continue
            _outcome_apply(row, result, before[row.pk])
            ours.append(row)
        saved = _outcomes_save(ours)
        _statuses_tell_contained(
            [
                OutboundStatusChange(
                    outbound_id=row.pk,
                    status=row.status,
                    previous=Outbound.Status.SENDING,
                    error_code=row.error_code,
                )
                for row in saved
                if row.status in (Outbound.Status.SENT, Outbound.Status.FAILED)
            ]
        )
        early = _early_receipts_many([row for row in saved if row.status == Outbound.Status.SENT])
    return saved, early


def outbound_attempt_many(*, outbound_ids: Sequence[int]) -> OutboundBatch:
    """Send many outbox messages at once, as `outbound_attempt` sends one: the due rows are
    claimed (SENDING, committed) in one UPDATE, sent channel by channel (e-mail over one SMTP
    connection a batch), and written back every WRITE_BACK_ROWS results in one transaction
    (one UPDATE for the sent ones); retryable errors back off, rows a crash left SENDING are
    reconciled with the provider first. A crash between the provider's acceptance and the
    write-back costs at most the group being sent: SMS (Twilio) is found again by `find_sent`;
    e-mail is sent again, with the same Message-ID."""
    now = clock.now()
    claimed, before = _outbound_claim(outbound_ids, now)
    if not claimed:
        return OutboundBatch([], [], [])
    deadline = time.monotonic() + _send_timeout().total_seconds() * BATCH_SEND_SHARE
    uncertain = {pk for pk, (status, _) in before.items() if status == Outbound.Status.SENDING}
    groups: dict[int, list[Outbound]] = {}
    for row in claimed:
        groups.setdefault(row.channel_id, []).append(row)
    saved: list[Outbound] = []
    early: list[int] = []
    tried: set[int] = set()
    pending: list[tuple[Outbound, str | SendError | None]] = []

    def write() -> None:
        written, receipts = _outcomes_write(pending, now, before)
        saved.extend(written)
        early.extend(receipts)
        pending.clear()

    for rows in groups.values():
        for row, result in _channel_send(rows[0].channel, rows, uncertain, deadline):
            tried.add(row.pk)
            pending.append((row, result))
            if len(pending) >= WRITE_BACK_ROWS:
                write()
    pending.extend((row, None) for row in claimed if row.pk not in tried)
    if pending:
        write()
    untried = [row.pk for row in saved if row.pk not in tried]
    logger.info(
        "messaging.outbound.batch_sent",
        extra={
            "claimed": len(claimed),
            "sent": sum(row.status == Outbound.Status.SENT for row in saved),
            "untried": len(untried),
        },
    )
    return OutboundBatch(outbounds=saved, early_receipts=early, untried=untried)


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
