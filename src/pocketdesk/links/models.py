"""Dynamic short links (the printed code never changes, the target may), their routing rules,
and anonymous scan analytics."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from pocketdesk.core.ids import PublicIdField


class Link(models.Model):
    public_id = PublicIdField(prefix="lnk")
    code = models.CharField(max_length=32, unique=True, help_text="the path part after /q/")
    title = models.CharField(max_length=200, blank=True)
    target_url = models.URLField(max_length=2000, help_text="the fallback target")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    max_visits = models.PositiveIntegerField(null=True, blank=True)
    # Human visits counted so far (bots excluded); written in batches by the visit recorder.
    visit_count = models.PositiveIntegerField(default=0)
    expired_message = models.CharField(
        max_length=500, blank=True, help_text="shown on the expired page instead of the default"
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_until__gt=models.F("valid_from")),
                name="links_link_validity_order",
            )
        ]

    def __str__(self) -> str:
        return self.code


class LinkRule(models.Model):
    """Send matching scans elsewhere. All conditions must match; lowest priority wins first."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="rules")
    priority = models.PositiveSmallIntegerField()
    target_url = models.URLField(max_length=2000)
    # [{"type": "device", "value": "ios"}, {"type": "language", "value": "fr"}, …]
    conditions = models.JSONField()

    class Meta:
        ordering = ["priority"]
        constraints = [
            models.UniqueConstraint(fields=["link", "priority"], name="links_rule_priority")
        ]

    def __str__(self) -> str:
        return f"{self.link_id}#{self.priority}"


class Visit(models.Model):
    """One scan or click. No personal data: the IP is truncated before it is stored."""

    link = models.ForeignKey(Link, null=True, on_delete=models.CASCADE, related_name="visits")
    code = models.CharField(max_length=64, help_text="as requested, also for unknown codes")
    at = models.DateTimeField()
    device = models.CharField(max_length=10)
    language = models.CharField(max_length=12, blank=True)
    referrer_host = models.CharField(max_length=255, blank=True)
    ip_prefix = models.CharField(max_length=64, blank=True)
    is_bot = models.BooleanField(default=False)
    outcome = models.CharField(max_length=12, help_text="redirect, expired, unknown")

    class Meta:
        indexes = [
            models.Index(fields=["link", "at"]),
            models.Index(fields=["code", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.at:%Y-%m-%d %H:%M}"
