"""Conversations: one thread per customer issue, across channels, and its messages."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from pocketdesk.core.ids import PublicIdField
from pocketdesk.customers.models import ContactPoint, Customer, Weekday
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
    # Set while a booked callback's time has come and it is not done yet: the inbox lists these
    # conversations above all others (selectors.conversation_list), the earliest first.
    callback_due_at = models.DateTimeField(null=True, blank=True)
    # Interaction health (services/health.py): 0–100, higher is healthier, with the reasons
    # and the suggestion as the agent sees them; stale after every message or receipt until
    # the health sweep scores it again.
    health_score = models.PositiveSmallIntegerField(null=True, blank=True)
    health = models.JSONField(default=dict, blank=True)
    health_at = models.DateTimeField(null=True, blank=True)
    health_stale = models.BooleanField(default=True)
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
            # The inbox sorted by health, worst first, in keyset order.
            models.Index(fields=["health_score", "id"], name="conversations_health"),
            # The health sweep's work: conversations changed since they were scored.
            models.Index(
                fields=["id"], condition=Q(health_stale=True), name="conversations_health_stale"
            ),
            # The few conversations with a callback due, listed above the inbox.
            models.Index(
                fields=["callback_due_at"],
                condition=Q(callback_due_at__isnull=False),
                name="conversations_callback_due",
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
    # The team whose callbacks the agent takes; a conversation's callbacks are booked in its
    # assignee's team (else the first team).
    team = models.ForeignKey(
        "Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="agents"
    )
    # Round robin: among agents with equal load, the one assigned longest ago goes first.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({'available' if self.available else 'away'})"


# --- callbacks and modality switches ----------------------------------------------------------


class Team(models.Model):
    """Agents who take callbacks together: their business hours (in the team's time zone), the
    public holidays they keep (a country, optionally a subdivision, as the `holidays` package
    names them), how long a callback slot is, and how many callbacks can run at once (`seats`,
    set by an admin: agents' availability is a live switch, not a rota, so it cannot say who
    will be there next Tuesday)."""

    public_id = PublicIdField(prefix="team")
    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    # ISO 3166-1 alpha-2 ("GB", "FR"); empty: no holidays kept.
    holiday_country = models.CharField(max_length=2, blank=True)
    # e.g. "SCT" for Scotland, "ENG" for England; empty: the country's national holidays.
    holiday_subdivision = models.CharField(max_length=10, blank=True)
    slot_minutes = models.PositiveSmallIntegerField(default=15)
    seats = models.PositiveSmallIntegerField(default=1)
    # A slot starts at least this long after the offer is made.
    lead_minutes = models.PositiveSmallIntegerField(default=60)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=5, slot_minutes__lte=240),
                name="conversations_team_slot_minutes",
            ),
            models.CheckConstraint(
                condition=Q(seats__gte=1, seats__lte=500), name="conversations_team_seats"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BusinessHours(models.Model):
    """When a team works on one weekday, in the team's time zone; a day may have several
    spans (a lunch break); a day without any is closed."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="business_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["weekday", "starts_at"]
        verbose_name_plural = "business hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="conversations_hours_order"
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="conversations_hours_weekday"),
            models.UniqueConstraint(
                fields=["team", "weekday", "starts_at"], name="conversations_hours_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.starts_at}-{self.ends_at}"


class Callback(models.Model):
    """A booked callback (a phone call) or chat session at a slot the customer picked."""

    class Kind(models.TextChoices):
        CALLBACK = "callback", _("Callback")
        CHAT = "chat", _("Chat session")

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CANCELLED = "cancelled", _("Cancelled")
        MISSED = "missed", _("Missed")
        DONE = "done", _("Done")

    public_id = PublicIdField(prefix="cb")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="callbacks"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="callbacks")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="callbacks")
    offer = models.ForeignKey(
        "CallbackOffer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CALLBACK)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    # Whom the callback is for (the conversation's assignee when booked); None: the team.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    booked_at = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    # When the sweep saw its time come (the conversation went to the top of the inbox).
    due_at = models.DateTimeField(null=True, blank=True)
    invite_sent_at = models.DateTimeField(null=True, blank=True)
    # Done, cancelled or missed at.
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["status", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="conversations_callback_order"
            )
        ]

    def __str__(self) -> str:
        return self.public_id


class CallbackSeat(models.Model):
    """One of a team's seats at one slot, held by a booked callback. The unique constraint is
    what stops a double booking: two bookings racing for the last seat cannot both insert it.
    A cancelled callback gives its seat back (the row goes)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    seat = models.PositiveSmallIntegerField()
    callback = models.OneToOneField(Callback, on_delete=models.CASCADE, related_name="seat")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "starts_at", "seat"], name="conversations_seat_once"
            ),
            models.CheckConstraint(condition=Q(seat__gte=1), name="conversations_seat_number"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}@{self.starts_at:%Y-%m-%d %H:%M}#{self.seat}"


class CallbackOffer(models.Model):
    """Slots proposed to a customer, with the single-use link they pick one from. Only the
    link token's SHA-256 is stored."""

    public_id = PublicIdField(prefix="cbo")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="callback_offers"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Callback.Kind.choices)
    # Slot starts, ISO 8601 in UTC, earliest first.
    slots = models.JSONField(default=list)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The message that carried the link.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.public_id


class SwitchLink(models.Model):
    """A single-use link that signs the customer in to the app and opens the thread in web
    chat. Only the token's SHA-256 is stored."""

    public_id = PublicIdField(prefix="swl")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="switch_links"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The message that carried the link.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.public_id
