"""Channels (configured provider accounts) and inbound events stored raw before processing."""

from django.db import models
from django.db.models import Q

from pocketdesk.core.ids import PublicIdField


class ChannelKind(models.TextChoices):
    TWILIO_SMS = "twilio_sms", "SMS (Twilio)"


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
    kind = models.CharField(max_length=20, help_text="message or status")
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
