"""Customers: profiles, contact points, preferences (language, zone, send windows, ranking),
consent per purpose, and the append-only timeline every app writes to."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from pocketdesk.core.ids import PublicIdField


class ChannelKind(models.TextChoices):
    PHONE = "phone", "SMS / phone"
    WHATSAPP = "whatsapp", "WhatsApp"
    EMAIL = "email", "Email"
    WEBPUSH = "webpush", "Web push"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    SOCIAL = "social", "Social handle"


PHONE_KINDS = frozenset({ChannelKind.PHONE, ChannelKind.WHATSAPP})


class Purpose(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    ALERTS = "alerts", "Alerts"
    MARKETING = "marketing", "Marketing"


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Mon")
    TUESDAY = 1, _("Tue")
    WEDNESDAY = 2, _("Wed")
    THURSDAY = 3, _("Thu")
    FRIDAY = 4, _("Fri")
    SATURDAY = 5, _("Sat")
    SUNDAY = 6, _("Sun")


class Customer(models.Model):
    public_id = PublicIdField(prefix="cus")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=8, default="en")
    time_zone = models.CharField(max_length=64, default="UTC")
    # Channel kinds, most preferred first; empty means "no explicit ranking".
    channel_ranking = models.JSONField(default=list, blank=True)
    is_lead = models.BooleanField(default=False, help_text="Created from an unknown sender.")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name or self.public_id


class ContactPoint(models.Model):
    """One way to reach a customer. `value` is normalised (E.164 phones, lower-case email)."""

    public_id = PublicIdField(prefix="cp")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(max_length=12, choices=ChannelKind.choices)
    value = models.CharField(max_length=500)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Web push keys (p256dh, auth) and other per-kind details.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="customers_contact_kind_value")
        ]
        indexes = [models.Index(fields=["value"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class VerificationCode(models.Model):
    """A one-time code proving the customer controls a contact point. Only its hash is kept."""

    contact_point = models.ForeignKey(
        ContactPoint, on_delete=models.CASCADE, related_name="verification_codes"
    )
    code_hash = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.contact_point_id}"


class SendWindow(models.Model):
    """When a customer may be contacted on one weekday, in their local time (Knock's model)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="send_windows")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["weekday"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "weekday"], name="customers_window_day"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="customers_window_order"
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="customers_window_weekday"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.starts_at}-{self.ends_at}"


class Consent(models.Model):
    """The current consent for one purpose; every change is also on the timeline."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    granted = models.BooleanField()
    changed_at = models.DateTimeField()
    source = models.CharField(max_length=40, help_text="web, api, sms_keyword, import, …")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "purpose"], name="customers_consent_purpose"
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose}={'yes' if self.granted else 'no'}"


class TimelineEntry(models.Model):
    """Something that happened with a customer, on any channel or app. Append-only."""

    public_id = PublicIdField(prefix="tle")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    kind = models.CharField(max_length=60, help_text="dotted event name, e.g. consent.changed")
    source = models.CharField(max_length=40, help_text="the app that wrote it")
    summary = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d} {self.kind}"


class CustomerHabits(models.Model):
    """What a customer's history says about reaching them: the channel they answer best and the
    hours they write at, each with a confidence (0–1) and a sentence saying why. Learned from
    their messages (conversations.habits); notifications fall back to `channel_ranking` when the
    customer has set no ranking of their own, and callback slots are ranked by `best_hours`."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="habits")
    # A contact kind (ChannelKind), or "" when nothing is known yet.
    preferred_channel = models.CharField(max_length=12, choices=ChannelKind.choices, blank=True)
    # Contact kinds, best first; empty when no message was ever answered.
    channel_ranking = models.JSONField(default=list, blank=True)
    # {"whatsapp": {"sent": 10, "answered": 9, "answer_rate": 0.9, "median_minutes": 6.0}, …}
    channel_stats = models.JSONField(default=dict, blank=True)
    # Local hours (0–23) the customer writes at, most frequent first: [{"hour": 9, "count": 12}, …]
    best_hours = models.JSONField(default=list, blank=True)
    channel_confidence = models.FloatField(default=0.0)
    hours_confidence = models.FloatField(default=0.0)
    channel_why = models.CharField(max_length=300, blank=True)
    hours_why = models.CharField(max_length=300, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "customer habits"
        constraints = [
            models.CheckConstraint(
                condition=Q(channel_confidence__gte=0, channel_confidence__lte=1),
                name="customers_habits_channel_confidence",
            ),
            models.CheckConstraint(
                condition=Q(hours_confidence__gte=0, hours_confidence__lte=1),
                name="customers_habits_hours_confidence",
            ),
        ]

    def __str__(self) -> str:
        return f"habits of {self.customer_id}"
