"""Reads of the notification settings (workflows, rules, templates, segments, broadcasts):
staff (agents and admins) see them all, anyone else nothing."""

from django.db.models import Count, Q, QuerySet

from pocketdesk.accounts.models import STAFF_ROLES, User
from pocketdesk.core.errors import NotFound
from pocketdesk.notifications.event_types import BROADCAST
from pocketdesk.notifications.models import (
    AlertRule,
    Event,
    Notification,
    Segment,
    Template,
    Workflow,
)
from pocketdesk.notifications.segments import segment_customers

BROADCASTS_MAX = 50


def _staff(actor: User) -> bool:
    return getattr(actor, "role", None) in STAFF_ROLES


def workflow_list(*, actor: User) -> QuerySet[Workflow]:
    if not _staff(actor):
        return Workflow.objects.none()
    return Workflow.objects.annotate(rule_count=Count("rules")).order_by("key")


def workflow_get(*, actor: User, workflow_id: str) -> Workflow:
    """A workflow by public id or key."""
    found = (
        Workflow.objects.filter(Q(public_id=workflow_id) | Q(key=workflow_id)).first()
        if _staff(actor) and workflow_id
        else None
    )
    if found is None:
        raise NotFound("No such workflow.")
    return found


def rule_list(*, actor: User, event_type: str = "") -> QuerySet[AlertRule]:
    if not _staff(actor):
        return AlertRule.objects.none()
    rules = AlertRule.objects.select_related("workflow").order_by("event_type", "priority", "pk")
    return rules.filter(event_type=event_type) if event_type else rules


def rule_get(*, actor: User, rule_id: str) -> AlertRule:
    found = (
        AlertRule.objects.select_related("workflow").filter(public_id=rule_id).first()
        if _staff(actor)
        else None
    )
    if found is None:
        raise NotFound("No such rule.")
    return found


def template_list(*, actor: User, event_type: str = "") -> QuerySet[Template]:
    if not _staff(actor):
        return Template.objects.none()
    templates = Template.objects.order_by("event_type", "channel_kind", "language")
    return templates.filter(event_type=event_type) if event_type else templates


def template_get(*, actor: User, template_id: int) -> Template:
    found = Template.objects.filter(pk=template_id).first() if _staff(actor) else None
    if found is None:
        raise NotFound("No such template.")
    return found


def segment_list(*, actor: User) -> QuerySet[Segment]:
    if not _staff(actor):
        return Segment.objects.none()
    return Segment.objects.order_by("key")


def segment_get_for(*, actor: User, segment_id: str) -> Segment:
    """A segment by public id or key."""
    found = (
        Segment.objects.filter(Q(public_id=segment_id) | Q(key=segment_id)).first()
        if _staff(actor) and segment_id
        else None
    )
    if found is None:
        raise NotFound("No such segment.")
    return found


def segment_count(*, actor: User, segment: Segment) -> int:
    if not _staff(actor):
        raise NotFound("No such segment.")
    return segment_customers(segment).count()


def broadcast_list(*, actor: User, limit: int = BROADCASTS_MAX) -> QuerySet[Event]:
    """Recent broadcasts, newest first."""
    if not _staff(actor):
        return Event.objects.none()
    return Event.objects.filter(type=BROADCAST).order_by("-received_at", "-pk")[
        : max(1, min(limit, BROADCASTS_MAX))
    ]


def event_status_counts_many(*, events: list[Event]) -> dict[int, dict[str, int]]:
    """Per event, how many of its notifications are in each status (zeros included): one
    query for the whole list."""
    counts = {event.pk: dict.fromkeys(Notification.Status.values, 0) for event in events}
    rows = (
        Notification.objects.filter(event_id__in=list(counts))
        .values("event_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        counts[row["event_id"]][row["status"]] = row["n"]
    return counts
