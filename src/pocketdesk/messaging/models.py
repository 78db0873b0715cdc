"""Channels (configured provider accounts) and inbound events stored raw before processing."""

from django.db import models
from django.db.models import Q

from pocketdesk.core.ids import PublicIdField
from pocketdesk.customers.models import ContactPoint


class ChannelKind(models.TextChoices):
    TWILIO_SMS = "twilio_sms", "SMS (Twilio)"
    WHATSAPP = "whatsapp", "WhatsApp (Meta Cloud API)"
    MESSENGER = "messenger", "Messenger (Meta)"
    INSTAGRAM = "instagram", "Instagram (Meta)"
    EMAIL = "email", "Email"
    WEBCHAT = "webchat", "Web chat"
    WEBPUSH = "webpush", "Web push"
    SOCIAL = "social", "Social mentions"
    APPRISE = "apprise", "Apprise URL"


class Channel(models.Model):
    """One provider account/number. Secrets live in `credentials` and are never shown back."""

    public_id = PublicIdField(prefix="chn")
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    name = models.CharField(max_length=100)
    # The address customers write to: an E.164 number for SMS.
    address = models.CharField(max_length=200)
    api_base = models.URLField(max_length=500, blank=True)
    # e.g. {"account_sid": "AC…", "auth_token": "…"}
    credentials = models.JSONField(default=dict)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "address"], name="messaging_channel_address")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"


class InboundEvent(models.Model):
    """A provider's webhook, kept as received. A provider event id is stored once per channel."""

    class State(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        FAILED = "failed"

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="inbound_events")
    kind = models.CharField(max_length=20, help_text="message, status or batch")
    provider_event_id = models.CharField(max_length=200, null=True, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "kind", "provider_event_id"],
                condition=Q(provider_event_id__isnull=False),
                name="messaging_inbound_once",
            )
        ]
        indexes = [models.Index(fields=["state", "received_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.provider_event_id}"


class InboundDrain(models.Model):
    """One row: when a drain of pending inbound events was last asked for (None: not since the
    last drain began). A webhook enqueues a drain task only when none is asked for, and the
    drain clears it before it reads, so a burst of webhooks costs one task per batch, not one
    per message. A request older than DRAIN_REQUEST_STALE (its task lost with a killed
    process) no longer counts."""

    requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"drain requested at {self.requested_at}" if self.requested_at else "idle"


class Outbound(models.Model):
    """One message to send through a channel: queued in the sender's transaction (an outbox),
    sent by a task, updated by the provider's receipts. A send whose outcome a crash left
    unknown is reconciled with the provider before it is tried again (see services)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        UNDELIVERED = "undelivered"
        FAILED = "failed"

    public_id = PublicIdField(prefix="out")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="outbounds")
    # The provider's address for the recipient: E.164, WhatsApp id, page-scoped id, e-mail, ….
    recipient = models.CharField(max_length=500)
    contact_point = models.ForeignKey(
        ContactPoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)
    media = models.JSONField(default=list, blank=True)
    # Adapter-specific extras: e-mail subject/threading headers, a WhatsApp template, ….
    extra = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    provider_id = models.CharField(max_length=200, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Set (and committed) before each provider call: a row left SENDING has an unknown outcome.
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_id"],
                condition=Q(provider_id__isnull=False),
                name="messaging_outbound_provider_once",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.status}"
