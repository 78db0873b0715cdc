"""Notifications API: events in from systems and partners, topic subscriptions, and the signed-in
customer's in-app notifications under /me."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from pocketdesk.accounts.auth import customer_auth, roles_auth
from pocketdesk.accounts.models import Role
from pocketdesk.customers.selectors import customer_of_user
from pocketdesk.notifications import selectors
from pocketdesk.notifications.event_types import event_text
from pocketdesk.notifications.models import Event, Notification, Subscription
from pocketdesk.notifications.schemas import (
    EventIn,
    EventOut,
    MySubscriptionIn,
    NotificationOut,
    SubscriptionIn,
    SubscriptionOut,
)
from pocketdesk.notifications.services import bell, events, subscriptions

router = Router(tags=["notifications"])
# The same event endpoints at /api/v1/events, the short path systems are told about.
events_router = Router(tags=["notifications"])
sender_auth = roles_auth(Role.PARTNER, Role.AGENT, Role.ADMIN)


def _event_out(event: Event) -> dict[str, Any]:
    return {
        "id": event.public_id,
        "type": event.type,
        "source_id": event.source_id,
        "subject_kind": event.subject_kind,
        "subject": event.subject,
        "payload": event.payload,
        "critical": event.critical,
        "state": event.state,
        "recipients": event.recipients,
        "received_at": event.received_at,
        "counts": selectors.event_status_counts(event=event),
    }


def _subscription_out(subscription: Subscription, customer_id: str) -> dict[str, Any]:
    return {
        "customer": customer_id,
        "topic": subscription.topic,
        "created_at": subscription.created_at,
    }


def _notification_out(notification: Notification) -> dict[str, Any]:
    event = notification.event
    return {
        "id": notification.public_id,
        "type": event.type,
        "text": event_text(event.type, event.payload),
        "channel": notification.channel_kind,
        "status": notification.status,
        "critical": event.critical,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


@router.post(
    "/events", response={200: EventOut, 201: EventOut}, auth=sender_auth, summary="Send an event"
)
def event_create(request: HttpRequest, payload: EventIn) -> Status:
    event, created = events.event_accept(
        actor=request.auth,  # type: ignore[attr-defined]
        type=payload.type,
        source_id=payload.source_id,
        subject=payload.subject,
        payload=payload.payload,
        critical=payload.critical,
    )
    return Status(201 if created else 200, _event_out(event))


@router.get("/events/{event_id}", response=EventOut, auth=sender_auth)
def event_detail(request: HttpRequest, event_id: str) -> dict[str, Any]:
    event = selectors.event_get(actor=request.auth, public_id=event_id)  # type: ignore[attr-defined]
    return _event_out(event)


events_router.add_api_operation(
    "",
    ["POST"],
    event_create,
    response={200: EventOut, 201: EventOut},
    auth=sender_auth,
    summary="Send an event",
    operation_id="events_create",
)
events_router.add_api_operation(
    "/{event_id}",
    ["GET"],
    event_detail,
    response=EventOut,
    auth=sender_auth,
    operation_id="events_detail",
)


@router.post(
    "/subscriptions", response={201: SubscriptionOut}, auth=sender_auth, summary="Subscribe"
)
def subscription_create(request: HttpRequest, payload: SubscriptionIn) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    customer = selectors.customer_for_subscriptions(actor=actor, public_id=payload.customer)
    subscription = subscriptions.subscription_add(
        actor=actor, customer=customer, topic=payload.topic
    )
    return Status(201, _subscription_out(subscription, customer.public_id))


@router.delete("/subscriptions", response={204: None}, auth=sender_auth, summary="Unsubscribe")
def subscription_delete(request: HttpRequest, customer: str, topic: str) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    target = selectors.customer_for_subscriptions(actor=actor, public_id=customer)
    subscriptions.subscription_remove(actor=actor, customer=target, topic=topic)
    return Status(204, None)


@router.get("/me", response=list[NotificationOut], auth=customer_auth, summary="My notifications")
def my_notifications(request: HttpRequest, limit: int = 50) -> list[dict[str, Any]]:
    rows = selectors.notification_bell(actor=request.auth, limit=limit)  # type: ignore[attr-defined]
    return [_notification_out(row) for row in rows]


@router.post("/me/subscriptions", response={201: SubscriptionOut}, auth=customer_auth)
def my_subscription_create(request: HttpRequest, payload: MySubscriptionIn) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    customer = customer_of_user(actor=actor)
    subscription = subscriptions.subscription_add(
        actor=actor, customer=customer, topic=payload.topic
    )
    return Status(201, _subscription_out(subscription, customer.public_id))


@router.delete("/me/subscriptions", response={204: None}, auth=customer_auth)
def my_subscription_delete(request: HttpRequest, topic: str) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    subscriptions.subscription_remove(
        actor=actor, customer=customer_of_user(actor=actor), topic=topic
    )
    return Status(204, None)


@router.post("/me/{notification_id}/read", response=NotificationOut, auth=customer_auth)
def my_notification_read(request: HttpRequest, notification_id: str) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    notification = selectors.notification_get(actor=actor, public_id=notification_id)
    return _notification_out(bell.notification_read(actor=actor, notification=notification))
