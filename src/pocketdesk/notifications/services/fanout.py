"""Fan-out and delivery: an event becomes one notification per recipient (channel by ranking
and consent, time by send window), written set-based in chunks; due notifications go to the
messaging outbox (or straight to the in-app bell) with a line on each customer's timeline."""

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet

from pocketdesk.core import clock
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import ContactPoint, Customer, Purpose
from pocketdesk.customers.services import TimelineItem, timeline_record_many
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.models import ChannelKind as MessagingKind
from pocketdesk.messaging.services import outbound_queue
from pocketdesk.messaging.tasks import outbound_send
from pocketdesk.notifications.event_types import EVENT_TYPES, event_text
from pocketdesk.notifications.models import IN_APP, Event, Notification
from pocketdesk.notifications.send_windows import send_window_next_open

logger = logging.getLogger(__name__)

FAN_OUT_CHUNK = 2_000
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


def _consents(customer: Customer) -> dict[str, bool]:
    return {c.purpose: c.granted for c in customer.consents.all()}


def recipient_plan(
    customer: Customer, *, event: Event, sendable: Iterable[str], now: datetime
) -> tuple[str, str, datetime, str]:
    """(channel kind, status, deliver_after, skip reason) for one customer, from prefetched
    contact points, consents and send windows. Alerts need the customer's consent unless the
    event is critical; a STOP on SMS/WhatsApp is always honoured."""
    consents = _consents(customer)
    if not event.critical and not consents.get(Purpose.ALERTS, False):
        return IN_APP, Notification.Status.SKIPPED, now, "no_alerts_consent"
    sendable = set(sendable)
    if consents.get(Purpose.TRANSACTIONAL) is False:
        sendable -= OPT_OUT_KINDS
    ranking = list(customer.channel_ranking or ContactKind.values)
    kind = next(
        (k for k in ranking if k in sendable and _contact_for(customer, k) is not None), None
    )
    if kind is None:
        if customer.user_id is None:
            return IN_APP, Notification.Status.SKIPPED, now, "no_contact"
        kind = IN_APP
    deliver_after = (
        now
        if event.critical
        else send_window_next_open(
            customer.send_windows.all(), time_zone=customer.time_zone, at=now
        )
    )
    return kind, Notification.Status.SCHEDULED, deliver_after, ""


def event_fan_out(*, event_id: int) -> int:
    """Write the event's notifications: the audience is read in pk-ordered chunks with their
    contact points, consents and windows prefetched, and each chunk is one bulk INSERT that
    ignores rows already there, so a re-run (a retried task) adds nothing. Returns how many
    notifications the event has."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    now = clock.now()
    active = _active_channels()
    sendable = {
        contact for contact, messaging in CHANNEL_FOR_CONTACT.items() if messaging in active
    }
    audience = (
        _audience(event)
        .exclude(notifications__event=event)
        .order_by("pk")
        .only("pk", "user", "channel_ranking", "time_zone")
        .prefetch_related("contact_points", "consents", "send_windows")
    )
    last_pk = 0
    while True:
        chunk = list(audience.filter(pk__gt=last_pk)[:FAN_OUT_CHUNK])
        if not chunk:
            break
        last_pk = chunk[-1].pk
        rows = []
        for customer in chunk:
            kind, status, deliver_after, reason = recipient_plan(
                customer, event=event, sendable=sendable, now=now
            )
            rows.append(
                Notification(
                    event=event,
                    customer_id=customer.pk,
                    channel_kind=kind,
                    status=status,
                    deliver_after=deliver_after,
                    skip_reason=reason,
                    created_at=now,
                )
            )
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
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
