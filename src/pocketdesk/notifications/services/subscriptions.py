"""Topic subscriptions: a customer follows keys such as `flight:AC123:2026-11-23`."""

import re

from django.db import transaction

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import PermissionDenied, ValidationFailed
from pocketdesk.customers.models import Customer
from pocketdesk.notifications.models import Subscription

TOPIC_RE = re.compile(r"[A-Za-z0-9:._-]{1,200}")
SUBSCRIBER_ROLES = frozenset({Role.PARTNER, *STAFF_ROLES})


# --- checks ----------------------------------------------------------------------------------


def topic_check(topic: str) -> str:
    if not isinstance(topic, str) or not TOPIC_RE.fullmatch(topic):
        raise ValidationFailed(
            "A topic is 1–200 characters of letters, digits and : . _ -",
            field="topic",
            code="invalid_topic",
        )
    return topic


def _may_manage(actor: User, customer: Customer) -> None:
    if actor.role == Role.CUSTOMER and customer.user_id == actor.pk:
        return
    if actor.role in SUBSCRIBER_ROLES:
        return
    raise PermissionDenied("You cannot change this customer's subscriptions.")


# --- subscriptions ---------------------------------------------------------------------------


def subscription_add(*, actor: User, customer: Customer, topic: str) -> Subscription:
    """Subscribe a customer to a topic; subscribing twice is harmless."""
    _may_manage(actor, customer)
    topic = topic_check(topic)
    with transaction.atomic():
        subscription, _ = Subscription.objects.get_or_create(
            customer=customer, topic=topic, defaults={"created_at": clock.now()}
        )
    return subscription


def subscription_remove(*, actor: User, customer: Customer, topic: str) -> bool:
    """Unsubscribe; False when there was no such subscription."""
    _may_manage(actor, customer)
    topic = topic_check(topic)
    with transaction.atomic():
        deleted, _ = Subscription.objects.filter(customer=customer, topic=topic).delete()
    return deleted > 0
