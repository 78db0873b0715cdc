"""Notifications: events received from the business's systems, customers' topic subscriptions,
and one notification per event and recipient (its channel, send window and delivery state)."""

from django.conf import settings
from django.db import models

from pocketdesk.core.ids import PublicIdField
from pocketdesk.customers.models import Customer
from pocketdesk.messaging.models import Outbound

IN_APP = "in_app"


class Subscription(models.Model):
    """A customer follows a topic key such as `flight:AC123:2026-11-23` or `order:55123`."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="subscriptions")
    topic = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "topic"], name="notifications_subscription_once"
            )
        ]
        indexes = [models.Index(fields=["topic", "customer"])]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.topic}"


class Event(models.Model):
    """Something that happened, sent by a system or partner; stored once per sender's id."""

    class SubjectKind(models.TextChoices):
        CUSTOMER = "customer"
        TOPIC = "topic"

    class State(models.TextChoices):
        ACCEPTED = "accepted"
        FANNED_OUT = "fanned_out"

    public_id = PublicIdField(prefix="evt")
    type = models.CharField(max_length=100, help_text="dotted, e.g. flight.delayed")
    # The sender's own id for the event: a replay of it returns the stored event.
    source_id = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_kind = models.CharField(max_length=10, choices=SubjectKind.choices)
    # A customer's public id or a topic key.
    subject = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True)
    critical = models.BooleanField(default=False)
    received_at = models.DateTimeField()
    recipients = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACCEPTED)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "source_id"], name="notifications_event_source_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.source_id}"


class Notification(models.Model):
    """One event for one customer: the channel chosen, when it may go out, what became of it."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        QUEUED = "queued"
        SENT = "sent"
        DELIVERED = "delivered"
        FAILED = "failed"
        SKIPPED = "skipped"

    public_id = PublicIdField(prefix="ntf")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="notifications")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifications")
    # A customers.ChannelKind value (the contact point kind) or "in_app".
    channel_kind = models.CharField(max_length=12)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    deliver_after = models.DateTimeField()
    skip_reason = models.CharField(max_length=60, blank=True)
    outbound = models.ForeignKey(
        Outbound, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event", "customer"], name="notifications_notification_once"
            )
        ]
        indexes = [
            models.Index(fields=["status", "deliver_after"]),
            models.Index(fields=["customer", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.status}"
