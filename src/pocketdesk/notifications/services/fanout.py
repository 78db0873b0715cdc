"""Fan-out: an event becomes one notification per recipient, written set-based in chunks. Each
recipient gets the workflow of the first alert rule that holds for them (none: the default
workflow), is skipped without the consent the workflow needs, and gets a first channel (by
ranking and contact points) and a first time (by send window). The engine (`engine.py`) then
runs the workflow's steps."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.constants import OnConflict

from pocketdesk.accounts.models import STAFF_ROLES
from pocketdesk.core import clock
from pocketdesk.core.ids import public_id_new
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Consent, ContactPoint, Customer, Purpose, SendWindow
from pocketdesk.customers.send_windows import send_window_next_open
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.models import ChannelKind as MessagingKind
from pocketdesk.notifications import rules, segments
from pocketdesk.notifications.event_types import BROADCAST
from pocketdesk.notifications.models import IN_APP, Event, Notification, Segment, Workflow
from pocketdesk.notifications.workflows import DEFAULT_STEPS, step_channels

logger = logging.getLogger(__name__)

FAN_OUT_CHUNK = 5_000
INSERT_ROWS = 1_000
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
    if event.subject_kind == Event.SubjectKind.SEGMENT:
        segment = Segment.objects.filter(key=event.subject).first()
        # A segment deleted since the event was accepted: nobody left to tell.
        return segments.segment_customers(segment) if segment else Customer.objects.none()
    return Customer.objects.filter(subscriptions__topic=event.subject)


def _named_workflow(event: Event) -> Workflow | None:
    """The active workflow a staff broadcast names in its payload (`workflow`: key). Only a
    broadcast staff sent: a workflow may be critical (past consent and quiet hours)."""
    key = event.payload.get("workflow") if event.type == BROADCAST else None
    if not isinstance(key, str) or not key:
        return None
    sender = event.created_by
    if sender is None or sender.role not in STAFF_ROLES:
        return None
    return Workflow.objects.filter(key=key, is_active=True).first()


def active_channels() -> dict[str, Channel]:
    """The active channel for each messaging kind (the oldest when there are several)."""
    channels: dict[str, Channel] = {}
    for channel in Channel.objects.filter(is_active=True).order_by("pk"):
        channels.setdefault(channel.kind, channel)
    return channels


# (channel kind, status, deliver_after, skip reason)
Plan = tuple[str, str, datetime, str]
# One recipient as the fan-out reads it: consents given ((purpose, granted) pairs), channel
# ranking, contact point kinds, has a login, time zone, send windows, language.
Recipient = tuple[
    frozenset[tuple[str, bool]],
    tuple[str, ...],
    frozenset[str],
    bool,
    str,
    tuple[Any, ...],
    str,
]


def recipient_plan(
    recipient: Recipient,
    *,
    event: Event,
    workflow: Workflow | None,
    sendable: frozenset[str],
    now: datetime,
) -> Plan:
    """The plan for one recipient. The workflow's consent (alerts, or marketing) is needed
    unless the event or workflow is critical (marketing never bypasses); a STOP on
    SMS/WhatsApp is always honoured; the first channel of the first send step that the customer
    can be reached on wins (the bell when they can log in); outside their send windows it waits
    for the next one (not when critical). The engine checks all of this again when it sends."""
    given, ranking, kinds, has_login, time_zone, windows, _language = recipient
    consents = dict(given)
    purpose = workflow.purpose if workflow is not None else Workflow.Purpose.ALERTS
    critical = event.critical or (workflow is not None and workflow.critical)
    if purpose == Workflow.Purpose.MARKETING:
        if not consents.get(Purpose.MARKETING):
            return IN_APP, Notification.Status.SKIPPED, now, "no_marketing_consent"
    elif not critical and not consents.get(Purpose.ALERTS):
        return IN_APP, Notification.Status.SKIPPED, now, "no_alerts_consent"
    if consents.get(Purpose.TRANSACTIONAL) is False:
        sendable = sendable - OPT_OUT_KINDS
    steps = workflow.steps if workflow is not None else DEFAULT_STEPS
    send = next((step for step in steps if step["type"] == "send"), DEFAULT_STEPS[0])
    kind = next(
        (
            k
            for k in step_channels(send, ranking)
            if (k == IN_APP and has_login) or (k in sendable and k in kinds)
        ),
        None,
    )
    if kind is None:
        return IN_APP, Notification.Status.SKIPPED, now, "no_contact"
    first_is_send = steps[0]["type"] == "send"
    deliver_after = (
        now
        if critical or not windows or not first_is_send
        else send_window_next_open(
            [SendWindow(weekday=d, starts_at=s, ends_at=e) for d, s, e in windows],
            time_zone=time_zone,
            at=now,
        )
    )
    return kind, Notification.Status.SCHEDULED, deliver_after, ""


def _customer_facts(recipient: Recipient) -> dict[str, Any]:
    """What alert rule conditions see as `customer`."""
    given, _ranking, kinds, _has_login, time_zone, _windows, language = recipient
    return {
        "language": language,
        "time_zone": time_zone,
        "channels": sorted(kinds),
        "consents": dict(given),
    }


_COLUMNS = (
    "public_id",
    "event",
    "customer",
    "channel_kind",
    "status",
    "deliver_after",
    "skip_reason",
    "created_at",
    "workflow",
    "step",
    "attempt",
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
    active = active_channels()
    event_rules = rules.rules_for(event.type)
    per_customer = any(rule.uses_customer for rule in event_rules)
    workflows = Workflow.objects.in_bulk({rule.workflow_id for rule in event_rules})
    chosen: dict[Recipient | None, int | None] = {}
    named = _named_workflow(event)
    if named is not None:  # a broadcast sent through a chosen workflow: no rules
        event_rules, per_customer = [], False
        workflows[named.pk] = named
        chosen[None] = named.pk

    def workflow_for(recipient: Recipient) -> int | None:
        key = recipient if per_customer else None
        if key not in chosen:
            facts = _customer_facts(recipient) if per_customer else None
            chosen[key] = (
                rules.rule_workflow(event_rules, event=event, customer=facts)
                if event_rules
                else None
            )
        return chosen[key]

    sendable = frozenset(
        contact for contact, messaging in CHANNEL_FOR_CONTACT.items() if messaging in active
    )
    audience = (
        _audience(event)
        .exclude(notifications__event=event)
        .order_by("pk")
        .values_list(
            "pk", "user_id", "channel_ranking", "habits__channel_ranking", "time_zone", "language"
        )
    )
    plans: dict[tuple[Recipient, int | None], Plan] = {}
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
        for pk, user_id, ranking, learned, time_zone, language in chunk:
            recipient: Recipient = (
                frozenset(consents.get(pk, {}).items()),
                # Their own ranking; else the one learned from how they answer.
                tuple(ranking or learned or ()),
                frozenset(kinds.get(pk, ())),
                user_id is not None,
                time_zone,
                tuple(sorted(windows.get(pk, ()))),
                language,
            )
            workflow_id = workflow_for(recipient)
            plan = plans.get((recipient, workflow_id))
            if plan is None:
                plan = plans[(recipient, workflow_id)] = recipient_plan(
                    recipient,
                    event=event,
                    workflow=workflows.get(workflow_id) if workflow_id else None,
                    sendable=sendable,
                    now=now,
                )
            kind, status, deliver_after, reason = plan
            when = adapted.get(deliver_after)
            if when is None:
                when = adapted[deliver_after] = adapt(deliver_after)
            rows.append(
                (
                    public_id_new("ntf"),
                    event.pk,
                    pk,
                    kind,
                    status,
                    when,
                    reason,
                    created_at,
                    workflow_id,
                    0,
                    0,
                )
            )
        _insert(rows)
    recipients = Notification.objects.filter(event=event).count()
    Event.objects.filter(pk=event.pk).update(recipients=recipients, state=Event.State.FANNED_OUT)
    logger.info(
        "notifications.event.fanned_out",
        extra={"event": event.public_id, "recipients": recipients},
    )
    return recipients


# An event still "accepted" this long after it arrived lost its fan-out task (a worker killed
# mid-way): the sweep fans it out again, which adds only the notifications still missing.
FAN_OUT_STALE = timedelta(seconds=30)


def events_fan_out_stalled(*, now: datetime, limit: int = 20) -> list[int]:
    """Events whose fan-out did not finish (for the periodic sweep), oldest first."""
    return list(
        Event.objects.filter(state=Event.State.ACCEPTED, received_at__lte=now - FAN_OUT_STALE)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
