"""Notifications: events received from the business's systems, customers' topic subscriptions
and reminders, the rules and workflows that turn events into messages, and one notification per
event and recipient with one delivery row per attempt."""

from django.conf import settings
from django.db import models
from django.db.models import Q

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


class Segment(models.Model):
    """A saved audience: customers matching every filter (language, time zone, country code of
    the phone, topic, consent, created after, explicit ids). Filters become one query."""

    public_id = PublicIdField(prefix="seg")
    key = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key


class Workflow(models.Model):
    """Ordered steps a notification goes through: send (with channel fallback), delay, digest,
    throttle. `steps` is a list checked by `workflows.workflow_steps_check`."""

    class Purpose(models.TextChoices):
        ALERTS = "alerts"
        MARKETING = "marketing"

    public_id = PublicIdField(prefix="wf")
    key = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    # The consent a customer must have given; marketing is never bypassed, even when critical.
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.ALERTS)
    # Throttle steps count a customer's notifications of the same category.
    category = models.SlugField(max_length=40, default="general")
    # Recalls, security: past preferences, send windows and digests (not marketing consent).
    critical = models.BooleanField(default=False)
    steps = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(critical=True, purpose="marketing"),
                name="notifications_workflow_critical_not_marketing",
            )
        ]

    def __str__(self) -> str:
        return self.key


class AlertRule(models.Model):
    """An event type plus a condition (CEL over `event`, `payload` and `customer`) → a
    workflow. The active rules of a type are tried by priority; the first that holds wins;
    none → the default workflow (one send by the customer's ranking)."""

    public_id = PublicIdField(prefix="rule")
    name = models.CharField(max_length=120)
    event_type = models.CharField(max_length=100)
    condition = models.TextField(blank=True, help_text="CEL; empty always holds")
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="rules")
    priority = models.IntegerField(default=100, help_text="lower first")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["event_type", "priority"])]

    def __str__(self) -> str:
        return self.name


class Template(models.Model):
    """The text for an event type on one channel kind in one language ("" = any). The most
    specific one wins; none → the event type's built-in English text."""

    event_type = models.CharField(max_length=100)
    channel_kind = models.CharField(max_length=12, blank=True)
    language = models.CharField(max_length=8, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event_type", "channel_kind", "language"],
                name="notifications_template_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.channel_kind or '*'} {self.language or '*'}"


class Event(models.Model):
    """Something that happened, sent by a system or partner; stored once per sender's id."""

    class SubjectKind(models.TextChoices):
        CUSTOMER = "customer"
        TOPIC = "topic"
        SEGMENT = "segment"

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
            ),
            # Events the app makes itself (reminders) have no sender: once per source id too.
            models.UniqueConstraint(
                fields=["source_id"],
                condition=Q(created_by__isnull=True),
                name="notifications_event_system_source_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.source_id}"


class Notification(models.Model):
    """One event for one customer: the channel chosen, when it may go out, what became of it."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"  # its current step runs at deliver_after
        WAITING = "waiting"  # sent; falls back to the next channel at deliver_after
        QUEUED = "queued"
        SENT = "sent"
        DELIVERED = "delivered"
        FAILED = "failed"
        SKIPPED = "skipped"
        DIGESTED = "digested"  # folded into another notification's digest

    public_id = PublicIdField(prefix="ntf")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="notifications")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifications")
    # None: the default workflow (one send by the customer's ranking).
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    step = models.PositiveSmallIntegerField(default=0)
    # Within a send step, the index of the channel tried (fallback moves it on).
    attempt = models.PositiveSmallIntegerField(default=0)
    # A customers.ChannelKind value (the contact point kind) or "in_app".
    channel_kind = models.CharField(max_length=12)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    deliver_after = models.DateTimeField()
    skip_reason = models.CharField(max_length=60, blank=True)
    # A digest holder collects the notifications folded into it until its window closes.
    digest_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="digested"
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


class Delivery(models.Model):
    """One attempt to deliver a notification on one channel, written in the same transaction
    as the outbox row it hands to messaging; once per notification, step and attempt."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        FAILED = "failed"

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    step = models.PositiveSmallIntegerField()
    attempt = models.PositiveSmallIntegerField()
    channel_kind = models.CharField(max_length=12)
    outbound = models.OneToOneField(
        Outbound, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "step", "attempt"], name="notifications_delivery_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_id}/{self.step}/{self.attempt} {self.status}"


class Reminder(models.Model):
    """A customer's own reminder: on a recurrence (RFC 5545 RRULE from `starts_at`), every
    `meter_every` units of a reported meter, or both (whichever comes first). Firing makes an
    event for the customer; `next_run_at` is stored so one indexed query finds what is due."""

    public_id = PublicIdField(prefix="rem")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="reminders")
    title = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100, default="maintenance.due")
    payload = models.JSONField(default=dict, blank=True)
    rrule = models.CharField(max_length=500, blank=True)
    starts_at = models.DateTimeField()
    meter_unit = models.CharField(max_length=20, blank=True)
    meter_every = models.PositiveIntegerField(null=True, blank=True)
    # The reading the meter count starts from (set when created and each time it fires).
    meter_base = models.PositiveIntegerField(null=True, blank=True)
    meter_reading = models.PositiveIntegerField(null=True, blank=True)
    meter_read_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    fired_count = models.PositiveIntegerField(default=0)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["is_active", "next_run_at"])]

    def __str__(self) -> str:
        return self.title
