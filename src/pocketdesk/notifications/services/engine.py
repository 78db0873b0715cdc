"""The workflow engine: moves due notifications through their workflow's steps (send with
channel fallback, delay, digest, throttle), writing each send as a delivery row and an outbox
row in the same transaction, and follows receipts and reads to stop or start a fallback.

A notification is `scheduled` while a step waits for its time (`deliver_after`), `waiting`
after a send that falls back to the next channel at `deliver_after` unless delivered or read
first, and ends `queued`/`sent`/`delivered`/`failed` (the last send's fate), `skipped`
(consent, throttle, no way to reach the customer) or `digested` (folded into another)."""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import translation

from pocketdesk.core import clock
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import ContactPoint, Customer, Purpose
from pocketdesk.customers.send_windows import send_window_next_open
from pocketdesk.customers.services import TimelineItem, timeline_record_many
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.services import OutboundItem, outbound_queue_many
from pocketdesk.messaging.tasks import outbound_send_batch
from pocketdesk.notifications.event_types import event_title
from pocketdesk.notifications.models import IN_APP, Delivery, Event, Notification, Workflow
from pocketdesk.notifications.services.fanout import (
    CHANNEL_FOR_CONTACT,
    OPT_OUT_KINDS,
    active_channels,
)
from pocketdesk.notifications.texts import RenderedText, TextRenderer, text_renderer
from pocketdesk.notifications.workflows import DEFAULT_STEPS, step_channels

logger = logging.getLogger(__name__)

DUE_BATCH = 500
# Outbox rows handed to one sending task: one SMTP connection (or one HTTP client) each.
SEND_BATCH = 100
# A run never loops more steps than this for one notification (steps are at most 20).
STEPS_PER_RUN = 40

Status = Notification.Status


def _steps(notification: Notification) -> list[dict[str, Any]]:
    workflow = notification.workflow
    return list(workflow.steps) if workflow is not None else DEFAULT_STEPS


def _critical(notification: Notification) -> bool:
    workflow = notification.workflow
    return notification.event.critical or (workflow is not None and workflow.critical)


def customer_ranking(customer: Customer) -> list[str]:
    """Their own channel ranking; else the one learned from how they answer (habits)."""
    if customer.channel_ranking:
        return list(customer.channel_ranking)
    habits = getattr(customer, "habits", None)  # a reverse one-to-one: absent raises
    return list(habits.channel_ranking) if habits is not None else []


def _contact_for(customer: Customer, kind: str) -> ContactPoint | None:
    """The customer's contact point of this kind, verified ones first (prefetched rows)."""
    points = [p for p in customer.contact_points.all() if p.kind == kind]
    points.sort(key=lambda p: (p.verified_at is None, p.pk))
    return points[0] if points else None


@dataclass
class _Run:
    """What one batch shares: the time, the channels, templates, and what it has written."""

    now: datetime
    channels: dict[str, Channel]
    renderer: TextRenderer
    deliveries: list[Delivery] = field(default_factory=list)
    outbox: list[tuple[Delivery, OutboundItem]] = field(default_factory=list)
    timeline: list[TimelineItem] = field(default_factory=list)
    # Digest holders made in this batch, by (customer, workflow, step): not in the DB yet.
    holders: dict[tuple[int, int | None, int], Notification] = field(default_factory=dict)
    digests: dict[int, list[Mapping[str, Any]]] = field(default_factory=dict)

    def reachable(self, notification: Notification, step: Mapping[str, Any]) -> list[str]:
        """The step's channels the customer can be reached on now, in order."""
        customer = notification.customer
        consents = {c.purpose: c.granted for c in customer.consents.all()}
        opted_out = consents.get(Purpose.TRANSACTIONAL) is False
        kinds = {p.kind for p in customer.contact_points.all()}
        out: list[str] = []
        for kind in step_channels(step, customer_ranking(customer)):
            if kind == IN_APP:
                if customer.user_id is not None:
                    out.append(kind)
                continue
            if kind not in kinds or CHANNEL_FOR_CONTACT.get(kind) not in self.channels:
                continue
            if opted_out and kind in OPT_OUT_KINDS:
                continue
            out.append(kind)
        return out


def _text(run: _Run, notification: Notification, kind: str) -> RenderedText:
    """The text in the customer's language for the channel (a digest lists its events)."""
    event = notification.event
    return run.renderer.render(
        event_type=event.type,
        payload=event.payload,
        channel_kind=kind,
        language=notification.customer.language,
        digest=run.digests.get(notification.pk) or [event.payload],
    )


def _summary(event: Event, kind: str, text: str) -> str:
    # Timeline lines are stored in English (the staff's reading language is not known here).
    with translation.override("en"):
        title = event_title(event.type, event.payload)
    where = "in the app" if kind == IN_APP else f"by {ContactKind(kind).label}"
    return f"{title} {where}: {text}"[:300]


def _send(run: _Run, notification: Notification, kind: str) -> Delivery:
    """One delivery on `kind`: an outbox row for a messaging channel, or the bell."""
    text = _text(run, notification, kind)
    delivery = Delivery(
        notification=notification,
        step=notification.step,
        attempt=notification.attempt,
        channel_kind=kind,
        status=Delivery.Status.SENT if kind == IN_APP else Delivery.Status.QUEUED,
        created_at=run.now,
        updated_at=run.now,
    )
    run.deliveries.append(delivery)
    point = _contact_for(notification.customer, kind) if kind != IN_APP else None
    if point is not None:  # reachable() made sure a messaging channel has one
        run.outbox.append(
            (
                delivery,
                OutboundItem(
                    channel=run.channels[CHANNEL_FOR_CONTACT[kind]],
                    recipient=point.value,
                    text=text.body,
                    extra={"subject": text.subject} if text.subject else {},
                    contact_point=point,
                ),
            )
        )
    notification.channel_kind = kind
    event = notification.event
    run.timeline.append(
        TimelineItem(
            customer_id=notification.customer_id,
            kind="notification.sent",
            summary=_summary(event, kind, text.body),
            source="notifications",
            at=run.now,
            data={
                "notification": notification.public_id,
                "event": event.public_id,
                "type": event.type,
                "channel": kind,
                "step": notification.step,
                "attempt": notification.attempt,
            },
        )
    )
    return delivery


def _throttled(run: _Run, notification: Notification, step: Mapping[str, Any]) -> bool:
    """Over the limit when the customer already has `limit` notifications of the workflow's
    category from the period ahead of this one (sent or still on their way: a send window
    may hold them back), skipped and digested ones aside."""
    workflow = notification.workflow
    category = workflow.category if workflow is not None else "general"
    earlier = (
        Notification.objects.filter(
            customer_id=notification.customer_id,
            workflow__category=category,
            created_at__gte=run.now - timedelta(minutes=step["period_minutes"]),
            pk__lt=notification.pk,
        )
        .exclude(status__in=[Status.SKIPPED, Status.DIGESTED])
        .count()
    )
    return earlier >= step["limit"]


def _digest_holder(run: _Run, notification: Notification, index: int) -> Notification | None:
    key = (notification.customer_id, notification.workflow_id, index)
    holder = run.holders.get(key)
    if holder is not None:
        return holder
    # Locked, skipping one a concurrent run is sending: then this one starts a new digest.
    return (
        Notification.objects.select_for_update(skip_locked=True)
        .filter(
            customer_id=notification.customer_id,
            workflow=notification.workflow,
            status=Status.SCHEDULED,
            step=index + 1,
            attempt=0,
            deliver_after__gt=run.now,
        )
        .exclude(pk=notification.pk)
        .order_by("pk")
        .first()
    )


def _consented(notification: Notification, *, critical: bool) -> bool:
    """Consent as it is now (it may have changed since the fan-out): alerts unless critical;
    marketing always."""
    workflow = notification.workflow
    purpose = workflow.purpose if workflow is not None else Workflow.Purpose.ALERTS
    if critical and purpose != Workflow.Purpose.MARKETING:
        return True
    return any(c.purpose == purpose and c.granted for c in notification.customer.consents.all())


def _finish(notification: Notification, delivered: bool = False) -> None:
    last = notification.channel_kind
    if delivered:
        notification.status = Status.DELIVERED
    elif last == IN_APP:
        notification.status = Status.SENT
    else:
        notification.status = Status.QUEUED


def _advance(run: _Run, notification: Notification) -> None:
    """Run the notification's steps from where it stands until one has to wait."""
    steps = _steps(notification)
    critical = _critical(notification)
    if notification.status == Status.WAITING:
        # The fallback time came without a receipt or a read: the next channel.
        notification.status = Status.SCHEDULED
    for _ in range(STEPS_PER_RUN):
        if notification.step >= len(steps):
            _finish(notification)
            return
        step = steps[notification.step]
        kind = step["type"]
        if kind == "delay":
            if notification.attempt == 0:  # the wait starts now
                notification.attempt = 1
                notification.deliver_after = run.now + timedelta(minutes=step["minutes"])
                return
        elif kind == "throttle":
            if not critical and _throttled(run, notification, step):
                notification.status = Status.SKIPPED
                notification.skip_reason = "throttled"
                return
        elif kind == "digest" and not critical:
            holder = _digest_holder(run, notification, notification.step)
            if holder is not None:
                notification.status = Status.DIGESTED
                notification.digest_into = holder
                return
            run.holders[(notification.customer_id, notification.workflow_id, notification.step)] = (
                notification
            )
            notification.step += 1
            notification.attempt = 0
            notification.deliver_after = run.now + timedelta(minutes=step["window_minutes"])
            return
        elif kind == "send":
            if not _consented(notification, critical=critical):
                notification.status = Status.SKIPPED
                notification.skip_reason = "no_consent"
                return
            windows = list(notification.customer.send_windows.all())
            if not critical and windows:
                opens = send_window_next_open(
                    windows, time_zone=notification.customer.time_zone, at=run.now
                )
                if opens > run.now:
                    notification.deliver_after = opens
                    return
            # Channels are tried in order, each once a step, whatever changed since the last
            # try (a retired push subscription, a new e-mail address).
            tried = {
                d.channel_kind for d in notification.deliveries.all() if d.step == notification.step
            }
            untried = [k for k in run.reachable(notification, step) if k not in tried]
            if not untried:
                if not tried:
                    notification.status = Status.SKIPPED
                    notification.skip_reason = "no_contact"
                    return
                # Every channel was tried: the step is over.
            else:
                notification.attempt = len(tried)
                _send(run, notification, untried[0])
                fallback = step.get("fallback_after_minutes")
                if fallback and len(untried) > 1:
                    notification.status = Status.WAITING
                    notification.deliver_after = run.now + timedelta(minutes=fallback)
                    return
                if notification.step + 1 >= len(steps):
                    _finish(notification)
                    return
        notification.step += 1
        notification.attempt = 0
    logger.warning("notifications.engine.too_many_steps", extra={"id": notification.public_id})


def _digested_payloads(holders: Iterable[Notification]) -> dict[int, list[Mapping[str, Any]]]:
    """Payloads of the events folded into each holder, the holder's own first."""
    holders = list(holders)
    out: dict[int, list[Mapping[str, Any]]] = {h.pk: [h.event.payload] for h in holders}
    rows = (
        Notification.objects.filter(digest_into__in=[h.pk for h in holders])
        .order_by("pk")
        .values_list("digest_into_id", "event__payload")
    )
    for holder_id, payload in rows:
        out[holder_id].append(payload)
    return out


def _write(run: _Run, due: Sequence[Notification]) -> None:
    if run.outbox:
        outbounds = outbound_queue_many([item for _, item in run.outbox])
        for (delivery, _), outbound in zip(run.outbox, outbounds, strict=True):
            delivery.outbound = outbound
        ids = [outbound.pk for outbound in outbounds]
        for start in range(0, len(ids), SEND_BATCH):
            enqueue_on_commit(outbound_send_batch, ids[start : start + SEND_BATCH])
    Delivery.objects.bulk_create(run.deliveries)
    _values_update(
        Notification,
        due,
        [
            "status",
            "step",
            "attempt",
            "channel_kind",
            "deliver_after",
            "skip_reason",
            "digest_into",
        ],
    )
    timeline_record_many(run.timeline)


def notifications_due_send(*, limit: int = DUE_BATCH) -> int:
    """Move up to `limit` due notifications on by their workflows. One transaction: the
    deliveries, outbox rows, new states and timeline lines commit together, and the rows are
    locked (skipped by a concurrent run), so a re-run after a crash sends nothing twice.
    Returns how many notifications it moved."""
    now = clock.now()
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=[Status.SCHEDULED, Status.WAITING], deliver_after__lte=now)
            .select_related("event", "customer", "customer__habits", "workflow")
            .prefetch_related(
                "customer__contact_points",
                "customer__consents",
                "customer__send_windows",
                "deliveries",
            )
            .order_by("deliver_after", "pk")[:limit]
        )
        if not due:
            return 0
        run = _Run(now=now, channels=active_channels(), renderer=text_renderer())
        holders = [
            n
            for n in due
            if n.status == Status.SCHEDULED and n.step > 0 and _is_after_digest(n, n.step - 1)
        ]
        if holders:
            run.digests = _digested_payloads(holders)
        for notification in due:
            _advance(run, notification)
        _write(run, due)
    logger.info("notifications.due.sent", extra={"count": len(due)})
    return len(due)


def _is_after_digest(notification: Notification, index: int) -> bool:
    steps = _steps(notification)
    return 0 <= index < len(steps) and steps[index]["type"] == "digest"


# --- receipts and reads ----------------------------------------------------------------------

_DELIVERY_RANK: dict[str, int] = {
    Delivery.Status.QUEUED: 0,
    Delivery.Status.SENT: 1,
    Delivery.Status.DELIVERED: 2,
    Delivery.Status.READ: 3,
    Delivery.Status.FAILED: 4,
}
# A finished notification follows its last delivery; failures are final.
_FINAL_RANK: dict[str, int] = {
    Status.QUEUED: 0,
    Status.SENT: 1,
    Status.DELIVERED: 2,
    Status.FAILED: 3,
}
_FINAL_FOR: dict[str, str] = {
    Delivery.Status.SENT: Status.SENT,
    Delivery.Status.DELIVERED: Status.DELIVERED,
    Delivery.Status.READ: Status.DELIVERED,
    Delivery.Status.FAILED: Status.FAILED,
}


def _reached(notification: Notification, *, now: datetime) -> None:
    """The current delivery was delivered or read: no fallback; the next step, if any."""
    if notification.step + 1 < len(_steps(notification)):
        notification.step += 1
        notification.attempt = 0
        notification.status = Status.SCHEDULED
        notification.deliver_after = now
    else:
        notification.status = Status.DELIVERED


def delivery_status_changed(delivery: Delivery, status: str, *, error: str = "") -> bool:
    """A receipt for a delivery (inside the caller's transaction). Statuses only move forward.
    A waiting notification whose current delivery is delivered or read stops falling back; one
    that failed falls back now. True when the notification has a step to run now (the caller
    wakes `tasks.notifications_due` after commit)."""
    now = clock.now()
    notification = (
        Notification.objects.select_for_update(of=("self",))
        .select_related("workflow", "event", "customer")
        .get(pk=delivery.notification_id)
    )
    if _DELIVERY_RANK[status] > _DELIVERY_RANK[delivery.status]:
        Delivery.objects.filter(pk=delivery.pk).update(status=status, error=error, updated_at=now)
        delivery.status = status
    current = delivery.step == notification.step and delivery.attempt == notification.attempt
    if notification.status == Status.WAITING and current:
        if status in (Delivery.Status.DELIVERED, Delivery.Status.READ):
            _reached(notification, now=now)
        elif status == Delivery.Status.FAILED:
            notification.deliver_after = now
    elif current and notification.status in _FINAL_RANK and delivery.status in _FINAL_FOR:
        # A late receipt for an earlier attempt (a push that failed after the SMS went) does
        # not change what became of the notification.
        final = _FINAL_FOR[delivery.status]
        if _FINAL_RANK[final] > _FINAL_RANK[notification.status]:
            notification.status = final
    notification.save(update_fields=["status", "step", "attempt", "deliver_after"])
    return notification.status in (Status.SCHEDULED, Status.WAITING) and (
        notification.deliver_after <= now
    )


def notification_seen(notification: Notification) -> bool:
    """The customer read the notification in the app (or opened its push): a waiting
    fallback stops there. True when a next step is due now."""
    delivery = (
        Delivery.objects.filter(
            notification=notification, step=notification.step, attempt=notification.attempt
        )
        .order_by("-pk")
        .first()
    )
    if delivery is None:
        return False
    return delivery_status_changed(delivery, Delivery.Status.READ)


def delivery_counts(*, event: Event) -> dict[str, int]:
    """Deliveries of an event by channel."""
    rows = (
        Delivery.objects.filter(notification__event=event)
        .values("channel_kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["channel_kind"]: row["n"] for row in rows}


def _values_update(model: Any, rows: Sequence[Any], names: Sequence[str]) -> None:
    """bulk_update without its CASE expressions (62% of notifications_due at 3,000 in a
    profile): UPDATE … FROM (VALUES …), 500 rows a statement, cast on PostgreSQL."""
    if not rows:
        return
    ops = connection.ops
    fields = [model._meta.get_field(name) for name in names]
    pk = model._meta.pk
    pg = connection.vendor == "postgresql"

    def cast(expr: str, field: Any) -> str:
        return f"CAST({expr} AS {field.db_type(connection)})" if pg else expr

    sets = ", ".join(
        f"{ops.quote_name(f.column)} = {cast(f'v.column{i + 2}', f)}" for i, f in enumerate(fields)
    )
    table = ops.quote_name(model._meta.db_table)
    one = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        params: list[Any] = []
        for row in chunk:
            params.append(row.pk)
            params.extend(f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields)
        sql = (
            f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([one] * len(chunk))}) AS v "  # noqa: S608
            f"WHERE {table}.{ops.quote_name(pk.column)} = {cast('v.column1', pk)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
