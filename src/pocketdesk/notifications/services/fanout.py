"""Fan-out and delivery: an event becomes one notification per recipient (channel by ranking
and consent, time by send window), written set-based in chunks; due notifications go to the
messaging outbox (or straight to the in-app bell) with a line on each customer's timeline."""

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.constants import OnConflict

from pocketdesk.core import clock
from pocketdesk.core.ids import public_id_new
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Consent, ContactPoint, Customer, Purpose, SendWindow
from pocketdesk.customers.services import TimelineItem, timeline_record_many
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.models import ChannelKind as MessagingKind
from pocketdesk.messaging.services import outbound_queue
from pocketdesk.messaging.tasks import outbound_send
from pocketdesk.notifications.event_types import EVENT_TYPES, event_text
from pocketdesk.notifications.models import IN_APP, Event, Notification
from pocketdesk.notifications.send_windows import send_window_next_open

logger = logging.getLogger(__name__)

FAN_OUT_CHUNK = 5_000
INSERT_ROWS = 1_000
DUE_BATCH = 500
# The messaging channel kind that reaches each contact point kind: the inverse of
# conversations' CONTACT_KIND, kept here because notifications does not import conversations.
CHANNEL_FOR_CONTACT: dict[str, str] = {
    ContactKind.PHONE: MessagingKind.TWILIO_SMS,
    ContactKind.WHATSAPP: MessagingKind.WHATSAPP,
    ContactKind.MESSENGER: MessagingKind.MESSENGER,
    ContactKind.INSTAGRAM: MessagingKind.INSTAGRAM,
    ContactKind.EMAIL: MessagingKind.EMAIL,
    ContactKind.WEBPUSH: MessagingKind.WEBPUSH,
    ContactKind.SOCIAL: MessagingKind.SOCIAL,
}
# A STOP on these (withdrawn transactional consent) forbids any further message on them.
OPT_OUT_KINDS = frozenset({ContactKind.PHONE, ContactKind.WHATSAPP})


def _audience(event: Event) -> QuerySet[Customer]:
    if event.subject_kind == Event.SubjectKind.CUSTOMER:
        return Customer.objects.filter(public_id=event.subject)
    return Customer.objects.filter(subscriptions__topic=event.subject)


def _active_channels() -> dict[str, Channel]:
    """The active channel for each messaging kind (the oldest when there are several)."""
    channels: dict[str, Channel] = {}
    for channel in Channel.objects.filter(is_active=True).order_by("pk"):
        channels.setdefault(channel.kind, channel)
    return channels


def _contact_for(customer: Customer, kind: str) -> ContactPoint | None:
    """The customer's contact point of this kind, verified ones first (prefetched rows)."""
    points = [p for p in customer.contact_points.all() if p.kind == kind]
    points.sort(key=lambda p: (p.verified_at is None, p.pk))
    return points[0] if points else None


# (channel kind, status, deliver_after, skip reason)
Plan = tuple[str, str, datetime, str]
# One recipient as the fan-out reads it: alerts consent, transactional consent (None when not
# given), channel ranking, contact point kinds, has a login, time zone, send windows.
Recipient = tuple[
    bool | None, bool | None, tuple[str, ...], frozenset[str], bool, str, tuple[Any, ...]
]


def recipient_plan(
    recipient: Recipient, *, event: Event, sendable: frozenset[str], now: datetime
) -> Plan:
    """The plan for one recipient. Alerts need the customer's consent unless the event is
    critical; a STOP on SMS/WhatsApp is always honoured; the first kind of the customer's
    ranking that is sendable and that they have a contact point of wins, else the in-app bell
    when they can log in; outside their send windows it waits for the next one."""
    alerts, transactional, ranking, kinds, has_login, time_zone, windows = recipient
    if not event.critical and not alerts:
        return IN_APP, Notification.Status.SKIPPED, now, "no_alerts_consent"
    if transactional is False:
        sendable = sendable - OPT_OUT_KINDS
    kind = next((k for k in ranking or ContactKind.values if k in sendable and k in kinds), None)
    if kind is None:
        if not has_login:
            return IN_APP, Notification.Status.SKIPPED, now, "no_contact"
        kind = IN_APP
    deliver_after = (
        now
        if event.critical or not windows
        else send_window_next_open(
            [SendWindow(weekday=d, starts_at=s, ends_at=e) for d, s, e in windows],
            time_zone=time_zone,
            at=now,
        )
    )
    return kind, Notification.Status.SCHEDULED, deliver_after, ""


_COLUMNS = (
    "public_id",
    "event",
    "customer",
    "channel_kind",
    "status",
    "deliver_after",
    "skip_reason",
    "created_at",
)


def _insert(rows: list[tuple[Any, ...]]) -> None:
    """INSERT the rows (in _COLUMNS order), skipping any already there. Not bulk_create: its
    per-field preparation of model instances was most of a 100,000-recipient fan-out
    (bench/fanout.py); every value here is already a plain str/int or a datetime adapted the
    way DateTimeField does. PostgreSQL takes one array a column (unnest), so the statement
    stays short whatever the row count; others a multi-row VALUES, several hundred rows a
    statement."""
    if not rows:
        return
    ops = connection.ops
    concrete = {field.name: field for field in Notification._meta.concrete_fields}
    fields = [concrete[name] for name in _COLUMNS]
    columns = ", ".join(ops.quote_name(str(field.column)) for field in fields)
    head = ops.insert_statement(on_conflict=OnConflict.IGNORE)
    tail = ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None)
    table = ops.quote_name(Notification._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
            cursor.execute(
                f"{head} {table} ({columns}) SELECT * FROM unnest({arrays}) {tail}",  # noqa: S608
                [list(column) for column in zip(*rows, strict=True)],
            )
            return
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        limit = connection.features.max_query_params or 65_535
        per_statement = max(1, min(INSERT_ROWS, limit // len(fields)))
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            values = ", ".join([one] * len(batch))
            cursor.execute(
                f"{head} {table} ({columns}) VALUES {values} {tail}",
                [value for row in batch for value in row],
            )


def _related(
    audience: QuerySet[Customer], first: int, last: int
) -> tuple[dict[int, dict[str, bool]], dict[int, set[str]], dict[int, list[tuple[Any, ...]]]]:
    """Consents, contact point kinds and send windows of the audience's customers with pks
    first..last: plain tuples, one query each (the audience as a subquery, not a list of pks
    whose per-value preparation cost more than the query)."""

    def rows(model: Any, *fields: str) -> Any:
        return (
            model.objects.filter(
                customer_id__gte=first,
                customer_id__lte=last,
                customer__in=audience.filter(pk__gte=first, pk__lte=last).values("pk"),
            )
            .order_by()
            .values_list("customer_id", *fields)
        )

    consents: dict[int, dict[str, bool]] = {}
    for customer_id, purpose, granted in rows(Consent, "purpose", "granted"):
        consents.setdefault(customer_id, {})[purpose] = granted
    kinds: dict[int, set[str]] = {}
    for customer_id, kind in rows(ContactPoint, "kind"):
        kinds.setdefault(customer_id, set()).add(kind)
    windows: dict[int, list[tuple[Any, ...]]] = {}
    for customer_id, *window in rows(SendWindow, "weekday", "starts_at", "ends_at"):
        windows.setdefault(customer_id, []).append(tuple(window))
    return consents, kinds, windows


def event_fan_out(*, event_id: int) -> int:
    """Write the event's notifications: the audience is read in pk-ordered chunks as plain
    values with their consents, contact point kinds and windows (one query each), customers
    alike get the same plan computed once, and each chunk is one multi-row INSERT that ignores
    rows already there, so a re-run (a retried task) adds nothing. Returns how many
    notifications the event has."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    now = clock.now()
    active = _active_channels()
    sendable = frozenset(
        contact for contact, messaging in CHANNEL_FOR_CONTACT.items() if messaging in active
    )
    audience = (
        _audience(event)
        .exclude(notifications__event=event)
        .order_by("pk")
        .values_list("pk", "user_id", "channel_ranking", "time_zone")
    )
    plans: dict[Recipient, Plan] = {}
    adapt = connection.ops.adapt_datetimefield_value
    adapted: dict[datetime, Any] = {}
    created_at = adapt(now)
    last_pk = 0
    while True:
        chunk = list(audience.filter(pk__gt=last_pk)[:FAN_OUT_CHUNK])
        if not chunk:
            break
        first_pk, last_pk = chunk[0][0], chunk[-1][0]
        consents, kinds, windows = _related(_audience(event), first_pk, last_pk)
        rows = []
        for pk, user_id, ranking, time_zone in chunk:
            given = consents.get(pk, {})
            recipient: Recipient = (
                given.get(Purpose.ALERTS),
                given.get(Purpose.TRANSACTIONAL),
                tuple(ranking or ()),
                frozenset(kinds.get(pk, ())),
                user_id is not None,
                time_zone,
                tuple(sorted(windows.get(pk, ()))),
            )
            plan = plans.get(recipient)
            if plan is None:
                plan = plans[recipient] = recipient_plan(
                    recipient, event=event, sendable=sendable, now=now
                )
            kind, status, deliver_after, reason = plan
            when = adapted.get(deliver_after)
            if when is None:
                when = adapted[deliver_after] = adapt(deliver_after)
            rows.append(
                (public_id_new("ntf"), event.pk, pk, kind, status, when, reason, created_at)
            )
        _insert(rows)
    recipients = Notification.objects.filter(event=event).count()
    Event.objects.filter(pk=event.pk).update(recipients=recipients, state=Event.State.FANNED_OUT)
    logger.info(
        "notifications.event.fanned_out",
        extra={"event": event.public_id, "recipients": recipients},
    )
    return recipients


def _summary(event_title: str, kind: str, text: str) -> str:
    where = "in the app" if kind == IN_APP else f"by {ContactKind(kind).label}"
    return f"{event_title} {where}: {text}"


def notifications_due_send(*, limit: int = DUE_BATCH) -> int:
    """Hand up to `limit` due notifications on: to the outbox of the channel for their kind
    (sent by `messaging.tasks.outbound_send` after commit), or to the in-app bell when they are
    in-app or their channel is gone. One transaction: the outbox rows, the new statuses and the
    timeline lines commit together, so a re-run sends nothing twice. Returns how many."""
    now = clock.now()
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Notification.Status.SCHEDULED, deliver_after__lte=now)
            .select_related("event", "customer")
            .prefetch_related("customer__contact_points")
            .order_by("deliver_after", "pk")[:limit]
        )
        if not due:
            return 0
        channels = _active_channels()
        timeline: list[TimelineItem] = []
        for notification in due:
            event = notification.event
            text = event_text(event.type, event.payload)
            channel = channels.get(CHANNEL_FOR_CONTACT.get(notification.channel_kind, ""))
            point = (
                _contact_for(notification.customer, notification.channel_kind)
                if channel is not None
                else None
            )
            if channel is None or point is None:
                # In-app from the start, or the channel was switched off since the fan-out:
                # the bell still shows it rather than losing it.
                notification.channel_kind = IN_APP
                notification.status = Notification.Status.SENT
            else:
                extra: Mapping[str, str] = (
                    {"subject": EVENT_TYPES[event.type].title} if event.type in EVENT_TYPES else {}
                )
                outbound = outbound_queue(
                    channel=channel,
                    recipient=point.value,
                    text=text,
                    extra=extra,
                    contact_point=point,
                )
                enqueue_on_commit(outbound_send, outbound.pk)
                notification.outbound = outbound
                notification.status = Notification.Status.QUEUED
            title = EVENT_TYPES[event.type].title if event.type in EVENT_TYPES else event.type
            timeline.append(
                TimelineItem(
                    customer_id=notification.customer_id,
                    kind="notification.sent",
                    summary=_summary(title, notification.channel_kind, text),
                    source="notifications",
                    at=now,
                    data={
                        "notification": notification.public_id,
                        "event": event.public_id,
                        "type": event.type,
                        "channel": notification.channel_kind,
                        "status": notification.status,
                    },
                )
            )
        Notification.objects.bulk_update(due, ["channel_kind", "status", "outbound"])
        timeline_record_many(timeline)
    logger.info("notifications.due.sent", extra={"count": len(due)})
    return len(due)
