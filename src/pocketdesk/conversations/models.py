"""Conversations: one thread per customer issue, across channels, and its messages."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from pocketdesk.core.ids import PublicIdField
from pocketdesk.customers.models import ContactPoint, Customer
from pocketdesk.messaging.models import Channel, Outbound


class Label(models.Model):
    """A tag agents put on conversations (billing, vip, …); names are unique in any case."""

    name = models.CharField(max_length=50)
    # A CSS hex colour, #rrggbb.
    colour = models.CharField(max_length=7, default="#5c6670")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), name="conversations_label_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    public_id = PublicIdField(prefix="cnv")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    # A snoozed conversation reopens at this time (or when the customer writes).
    snoozed_until = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True)
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
            # The inbox filtered by status, in keyset order (id breaks ties: without it in the
            # index SQLite sorts every row of the status).
            models.Index(
                fields=["status", "-last_message_at", "-id"], name="conversations_status_recent"
            ),
            models.Index(fields=["customer", "-last_message_at"]),
            # The inbox's "mine" view; "unassigned" uses it too (assignee IS NULL).
            models.Index(
                fields=["assignee", "status", "-last_message_at", "-id"],
                name="conversations_assignee_status",
            ),
            # The inbox's "all" view, in keyset order.
            models.Index(fields=["-last_message_at", "-id"], name="conversations_recent"),
            # "mine" and "unassigned", in keyset order (no sort of an agent's whole history).
            models.Index(
                fields=["assignee", "-last_message_at", "-id"], name="conversations_assignee_recent"
            ),
            # The unread badges count only conversations with unread messages.
            models.Index(
                fields=["status", "assignee"],
                condition=Q(unread_count__gt=0),
                name="conversations_unread",
            ),
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


class CannedReply(models.Model):
    """A saved answer an agent inserts by its shortcut. The text may use the variables
    {{customer.name}}, {{customer.first_name}}, {{agent.name}}, {{agent.first_name}} and
    {{conversation.id}} (see services.inbox.canned_reply_render)."""

    shortcut = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=100, blank=True)
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.shortcut


class AgentProfile(models.Model):
    """An agent's (or admin's) inbox settings: whether automatic assignment may give them
    conversations, and how many open ones at most."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    available = models.BooleanField(default=False)
    max_open = models.PositiveSmallIntegerField(default=10)
    # Round robin: among agents with equal load, the one assigned longest ago goes first.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({'available' if self.available else 'away'})"
