"""Notification reads, scoped by the acting user: staff see every event, a partner the events
it sent, a customer only their own notifications."""

from django.db.models import Count, Prefetch, QuerySet

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core.errors import NotFound
from pocketdesk.customers.models import Customer
from pocketdesk.notifications.models import Delivery, Event, Notification

BELL_MAX = 100


def event_get(*, actor: User, public_id: str) -> Event:
    events = Event.objects.all()
    if actor.role == Role.PARTNER:
        events = events.filter(created_by=actor)
    elif actor.role not in STAFF_ROLES:
        events = events.none()
    event = events.filter(public_id=public_id).first()
    if event is None:
        raise NotFound("No such event.")
    return event


def event_status_counts(*, event: Event) -> dict[str, int]:
    """How many of the event's notifications are in each status (zeros included)."""
    counts = dict.fromkeys(Notification.Status.values, 0)
    rows = event.notifications.values("status").annotate(n=Count("pk")).order_by()
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def customer_for_subscriptions(*, actor: User, public_id: str) -> Customer:
    """A customer whose subscriptions staff or a partner may change (partners serve every
    customer subscribed to their topics)."""
    if actor.role not in STAFF_ROLES and actor.role != Role.PARTNER:
        raise NotFound("No such customer.")
    customer = Customer.objects.filter(public_id=public_id).first()
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def notification_bell(*, actor: User, limit: int = 50) -> QuerySet[Notification]:
    """The signed-in customer's notifications that have gone out, newest first."""
    if actor.role != Role.CUSTOMER:
        return Notification.objects.none()
    hidden = [Notification.Status.SCHEDULED, Notification.Status.SKIPPED]
    return (
        Notification.objects.filter(customer__user=actor)
        .exclude(status__in=hidden)
        .select_related("event")
        .order_by("-created_at", "-pk")[: max(1, min(limit, BELL_MAX))]
    )


def notification_list(*, actor: User, limit: int = 50) -> QuerySet[Notification]:
    """Every notification of the signed-in customer, newest first, whatever became of it
    (waiting for a send window, skipped, sent): the bell page shows each with its state."""
    if actor.role != Role.CUSTOMER:
        return Notification.objects.none()
    return (
        Notification.objects.filter(customer__user=actor)
        .select_related("event")
        .order_by("-created_at", "-pk")[: max(1, min(limit, BELL_MAX))]
    )


def notification_unread_count(*, actor: User) -> int:
    if actor.role != Role.CUSTOMER:
        return 0
    return Notification.objects.filter(customer__user=actor, read_at__isnull=True).count()


def notification_get(*, actor: User, public_id: str) -> Notification:
    notification = (
        Notification.objects.filter(customer__user=actor, public_id=public_id)
        .select_related("customer")
        .first()
        if actor.role == Role.CUSTOMER
        else None
    )
    if notification is None:
        raise NotFound("No such notification.")
    return notification


PANEL_360 = 10


def customer_notifications_recent(
    *, actor: User, customer: Customer, limit: int = PANEL_360
) -> list[Notification]:
    """A customer's latest notifications with every delivery attempt, for staff (two
    queries)."""
    if actor.role not in STAFF_ROLES:
        return []
    return list(
        Notification.objects.filter(customer=customer)
        .select_related("event", "workflow")
        .prefetch_related(
            Prefetch("deliveries", queryset=Delivery.objects.order_by("step", "attempt"))
        )
        .order_by("-created_at", "-pk")[:limit]
    )
