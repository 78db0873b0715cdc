"""Conversations: one thread per customer issue, across channels, and its messages."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from pocketdesk.core.ids import PublicIdField
from pocketdesk.customers.models import ContactPoint, Customer
from pocketdesk.messaging.models import Channel, Outbound


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        SNOOZED = "snoozed"
        RESOLVED = "resolved"

    public_id = PublicIdField(prefix="cnv")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where the customer last wrote from: replies go there unless the agent picks another.
    last_channel = models.ForeignKey(
        Channel, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_contact_point = models.ForeignKey(
        ContactPoint, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_message_at = models.DateTimeField()
    # Inbound messages the agents have not read yet.
    unread_count = models.PositiveIntegerField(default=0)
    # When the customer last read the thread (web chat read state).
    customer_read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["status", "-last_message_at"]),
            models.Index(fields=["customer", "-last_message_at"]),
        ]

    def __str__(self) -> str:
        return self.public_id


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"
        NOTE = "note"

    public_id = PublicIdField(prefix="msg")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=10, choices=Direction.choices)
    channel = models.ForeignKey(Channel, null=True, on_delete=models.SET_NULL, related_name="+")
    contact_point = models.ForeignKey(
        ContactPoint, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # text, image, location, interactive, callback_request, mention, …
    kind = models.CharField(max_length=20, default="text")
    text = models.TextField(blank=True)
    media = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    # The inbound provider's id (Twilio SID, wamid, e-mail Message-ID).
    provider_id = models.CharField(max_length=200, null=True, blank=True)
    # Outbound messages: the outbox row that carries it (status, provider id, errors).
    outbound = models.OneToOneField(
        Outbound, null=True, blank=True, on_delete=models.SET_NULL, related_name="message"
    )
    # A client-generated id (web chat, offline queue): the same id is stored once.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_id"],
                condition=Q(provider_id__isnull=False),
                name="conversations_message_provider_once",
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="conversations_message_client_once",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id
