"""What staff configure: workflows, alert rules, templates and segments (admins write them,
agents read them), template previews, and one-off broadcasts to a segment (agents and admins:
the audience and the workflow it goes through are the admins' choice; a broadcast only picks
one of them). Every write is audited."""

import logging
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.notifications.event_types import BROADCAST, EVENT_TYPES
from pocketdesk.notifications.models import (
    IN_APP,
    AlertRule,
    Event,
    Segment,
    Template,
    Workflow,
)
from pocketdesk.notifications.rules import rule_condition_check
from pocketdesk.notifications.segments import segment_filters_check
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.texts import (
    RenderedText,
    template_check,
    text_render_body,
    text_renderer,
)
from pocketdesk.notifications.workflows import workflow_steps_check

logger = logging.getLogger(__name__)

KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")
NAME_MAX = 120
CATEGORY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
TEMPLATE_CHANNELS = frozenset({*ContactKind.values, IN_APP})
BROADCAST_TITLE_MAX = 120
BROADCAST_TEXT_MAX = 1000


# --- permissions and checks ------------------------------------------------------------------


def _admin_only(actor: User) -> None:
    if getattr(actor, "role", None) != Role.ADMIN:
        raise PermissionDenied("Only admins change notification settings.")


def _staff_only(actor: User) -> None:
    if getattr(actor, "role", None) not in STAFF_ROLES:
        raise PermissionDenied("Only staff use notification settings.")


def _key_check(key: Any) -> str:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise ValidationFailed(
            "A key is 1–60 lower-case letters, digits, - and _.", field="key", code="invalid_key"
        )
    return key


def _name_check(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        raise ValidationFailed(f"A name is 1–{NAME_MAX} characters.", field="name")
    return name.strip()


def _event_type_check(event_type: Any) -> str:
    if event_type not in EVENT_TYPES:
        raise ValidationFailed(
            f"Unknown event type {event_type!r}.", field="event_type", code="unknown_event_type"
        )
    return str(event_type)


def _workflow_fields_check(*, purpose: str, category: str, critical: bool) -> tuple[str, str, bool]:
    if purpose not in Workflow.Purpose.values:
        raise ValidationFailed(
            f"The purpose is one of {', '.join(Workflow.Purpose.values)}.",
            field="purpose",
            code="invalid_purpose",
        )
    if not isinstance(category, str) or not CATEGORY_RE.fullmatch(category):
        raise ValidationFailed(
            "A category is 1–40 lower-case letters, digits, - and _.", field="category"
        )
    if critical and purpose == Workflow.Purpose.MARKETING:
        # Critical bypasses preferences and send windows; marketing consent is never bypassed.
        raise ValidationFailed(
            "A marketing workflow cannot be critical.",
            field="critical",
            code="critical_marketing",
        )
    return purpose, category, bool(critical)


def _unique_key_conflict(kind: str, key: str) -> Conflict:
    return Conflict(f"A {kind} with the key {key!r} exists.", code="key_taken")


# --- workflows -------------------------------------------------------------------------------


def workflow_create(
    *,
    actor: User,
    key: str,
    name: str,
    steps: Any,
    purpose: str = Workflow.Purpose.ALERTS,
    category: str = "general",
    critical: bool = False,
    is_active: bool = True,
) -> Workflow:
    _admin_only(actor)
    key, name = _key_check(key), _name_check(name)
    checked_steps = workflow_steps_check(steps)
    purpose, category, critical = _workflow_fields_check(
        purpose=purpose, category=category, critical=critical
    )
    now = clock.now()
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                key=key,
                name=name,
                purpose=purpose,
                category=category,
                critical=critical,
                steps=checked_steps,
                is_active=is_active,
                created_at=now,
                updated_at=now,
            )
            audit_record(
                actor=actor,
                action="workflow.created",
                target=workflow,
                data={"key": key, "steps": checked_steps, "critical": critical},
            )
    except IntegrityError as error:
        raise _unique_key_conflict("workflow", key) from error
    return workflow


def workflow_update(
    *,
    actor: User,
    workflow: Workflow,
    name: str | None = None,
    steps: Any = None,
    purpose: str | None = None,
    category: str | None = None,
    critical: bool | None = None,
    is_active: bool | None = None,
) -> Workflow:
    """Change what is given (None: unchanged). The key stays: other systems may name it."""
    _admin_only(actor)
    changed: dict[str, Any] = {}
    if name is not None:
        changed["name"] = _name_check(name)
    if steps is not None:
        changed["steps"] = workflow_steps_check(steps)
    purpose, category, critical = _workflow_fields_check(
        purpose=purpose if purpose is not None else workflow.purpose,
        category=category if category is not None else workflow.category,
        critical=critical if critical is not None else workflow.critical,
    )
    for field, value in (("purpose", purpose), ("category", category), ("critical", critical)):
        if value != getattr(workflow, field):
            changed[field] = value
    if is_active is not None and is_active != workflow.is_active:
        changed["is_active"] = bool(is_active)
    if not changed:
        return workflow
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        for field, value in changed.items():
            setattr(locked, field, value)
        locked.updated_at = clock.now()
        locked.save(update_fields=[*changed, "updated_at"])
        audit_record(actor=actor, action="workflow.updated", target=locked, data=changed)
    for field in (*changed, "updated_at"):
        setattr(workflow, field, getattr(locked, field))
    return workflow


def workflow_delete(*, actor: User, workflow: Workflow) -> None:
    """Delete a workflow no rule and no notification uses (409 otherwise: deactivate it)."""
    _admin_only(actor)
    try:
        with transaction.atomic():
            audit_record(
                actor=actor, action="workflow.deleted", target=workflow, data={"key": workflow.key}
            )
            workflow.delete()
    except ProtectedError as error:
        raise Conflict(
            "Rules or notifications use this workflow; deactivate it instead.",
            code="workflow_in_use",
        ) from error


# --- alert rules -----------------------------------------------------------------------------


def _priority_check(priority: Any) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 10_000:
        raise ValidationFailed("The priority is a whole number from 0 to 10000.", field="priority")
    return priority


def rule_create(
    *,
    actor: User,
    name: str,
    event_type: str,
    workflow: Workflow,
    condition: str = "",
    priority: int = 100,
    is_active: bool = True,
) -> AlertRule:
    _admin_only(actor)
    name = _name_check(name)
    event_type = _event_type_check(event_type)
    condition = rule_condition_check(condition)
    priority = _priority_check(priority)
    now = clock.now()
    with transaction.atomic():
        rule = AlertRule.objects.create(
            name=name,
            event_type=event_type,
            condition=condition,
            workflow=workflow,
            priority=priority,
            is_active=is_active,
            created_at=now,
            updated_at=now,
        )
        audit_record(
            actor=actor,
            action="alert_rule.created",
            target=rule,
            data={"event_type": event_type, "condition": condition, "workflow": workflow.key},
        )
    return rule


def rule_update(
    *,
    actor: User,
    rule: AlertRule,
    name: str | None = None,
    event_type: str | None = None,
    workflow: Workflow | None = None,
    condition: str | None = None,
    priority: int | None = None,
    is_active: bool | None = None,
) -> AlertRule:
    """Change what is given (None: unchanged; condition "" always holds)."""
    _admin_only(actor)
    changed: dict[str, Any] = {}
    if name is not None:
        changed["name"] = _name_check(name)
    if event_type is not None:
        changed["event_type"] = _event_type_check(event_type)
    if condition is not None:
        changed["condition"] = rule_condition_check(condition)
    if priority is not None:
        changed["priority"] = _priority_check(priority)
    if is_active is not None:
        changed["is_active"] = bool(is_active)
    if workflow is not None:
        changed["workflow"] = workflow
    if not changed:
        return rule
    with transaction.atomic():
        for field, value in changed.items():
            setattr(rule, field, value)
        rule.updated_at = clock.now()
        rule.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action="alert_rule.updated",
            target=rule,
            data={k: (v.key if isinstance(v, Workflow) else v) for k, v in changed.items()},
        )
    return rule


def rule_delete(*, actor: User, rule: AlertRule) -> None:
    _admin_only(actor)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="alert_rule.deleted",
            target=rule,
            data={"event_type": rule.event_type, "condition": rule.condition},
        )
        rule.delete()


# --- templates -------------------------------------------------------------------------------


def _template_key_check(event_type: str, channel_kind: str, language: str) -> None:
    _event_type_check(event_type)
    if channel_kind and channel_kind not in TEMPLATE_CHANNELS:
        raise ValidationFailed(
            f"The channel is empty (any) or one of {', '.join(sorted(TEMPLATE_CHANNELS))}.",
            field="channel_kind",
            code="invalid_channel",
        )
    offered = {code for code, _ in settings.LANGUAGES}
    if language and language not in offered:
        raise ValidationFailed(
            f"The language is empty (any) or one of {', '.join(sorted(offered))}.",
            field="language",
            code="invalid_language",
        )


def template_upsert(
    *,
    actor: User,
    event_type: str,
    channel_kind: str = "",
    language: str = "",
    subject: str = "",
    body: str,
) -> tuple[Template, bool]:
    """Create or replace the template of (event type, channel, language); (template, created).
    A body or subject that does not parse → 422 `invalid_template`."""
    _admin_only(actor)
    _template_key_check(event_type, channel_kind, language)
    template_check(body)
    template_check(subject, field="subject")
    if not body.strip():
        raise ValidationFailed("A template needs a body.", field="body", code="invalid_template")
    now = clock.now()
    with transaction.atomic():
        template, created = Template.objects.update_or_create(
            event_type=event_type,
            channel_kind=channel_kind,
            language=language,
            defaults={"subject": subject, "body": body, "updated_at": now},
            create_defaults={
                "subject": subject,
                "body": body,
                "created_at": now,
                "updated_at": now,
            },
        )
        audit_record(
            actor=actor,
            action="template.created" if created else "template.updated",
            target=template,
            data={"event_type": event_type, "channel_kind": channel_kind, "language": language},
        )
    return template, created


def template_delete(*, actor: User, template: Template) -> None:
    _admin_only(actor)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="template.deleted",
            target=template,
            data={"event_type": template.event_type, "body": template.body},
        )
        template.delete()


def template_preview(
    *,
    event_type: str,
    channel_kind: str,
    language: str,
    payload: Mapping[str, Any],
    body: str | None = None,
    subject: str = "",
) -> RenderedText:
    """What a customer would receive: with `body`, that unsaved template (422 when it does not
    parse or render); without, what the stored templates (or the built-in text) give."""
    _template_key_check(event_type, channel_kind, language)
    if not isinstance(payload, Mapping):
        raise ValidationFailed("The payload is an object.", field="payload")
    if body is None:
        return text_renderer().render(
            event_type=event_type,
            payload=payload,
            channel_kind=channel_kind,
            language=language,
        )
    return text_render_body(
        body=body,
        subject=subject,
        event_type=event_type,
        payload=payload,
        channel_kind=channel_kind,
        language=language,
    )


# --- segments --------------------------------------------------------------------------------


def segment_create(*, actor: User, key: str, name: str, filters: Any) -> Segment:
    _admin_only(actor)
    key, name = _key_check(key), _name_check(name)
    checked = segment_filters_check(filters)
    now = clock.now()
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                key=key, name=name, filters=checked, created_at=now, updated_at=now
            )
            audit_record(
                actor=actor, action="segment.created", target=segment, data={"filters": checked}
            )
    except IntegrityError as error:
        raise _unique_key_conflict("segment", key) from error
    return segment


def segment_update(
    *, actor: User, segment: Segment, name: str | None = None, filters: Any = None
) -> Segment:
    """Change the name or filters (None: unchanged). The key stays: events name it."""
    _admin_only(actor)
    changed: dict[str, Any] = {}
    if name is not None:
        changed["name"] = _name_check(name)
    if filters is not None:
        changed["filters"] = segment_filters_check(filters)
    if not changed:
        return segment
    with transaction.atomic():
        for field, value in changed.items():
            setattr(segment, field, value)
        segment.updated_at = clock.now()
        segment.save(update_fields=[*changed, "updated_at"])
        audit_record(actor=actor, action="segment.updated", target=segment, data=changed)
    return segment


def segment_delete(*, actor: User, segment: Segment) -> None:
    """Delete a segment; events sent to it keep its key as their subject."""
    _admin_only(actor)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="segment.deleted",
            target=segment,
            data={"key": segment.key, "filters": segment.filters},
        )
        segment.delete()


# --- broadcasts ------------------------------------------------------------------------------


def broadcast_send(
    *,
    actor: User,
    segment: Segment,
    title: str,
    text: str,
    source_id: str,
    workflow: Workflow | None = None,
) -> tuple[Event, bool]:
    """A one-off message to a segment: a `broadcast` event whose subject is the segment, fanned
    out like any other (consent, ranking, send windows). `workflow` (by key in the payload)
    picks how it goes out; none: the rules, else the default. A replayed source id returns the
    first event (created False) and sends nothing again."""
    _staff_only(actor)
    title = " ".join((title or "").split())
    text = (text or "").strip()
    if len(title) > BROADCAST_TITLE_MAX:
        raise ValidationFailed(
            f"A title is at most {BROADCAST_TITLE_MAX} characters.", field="title"
        )
    if not text or len(text) > BROADCAST_TEXT_MAX:
        raise ValidationFailed(f"A text is 1–{BROADCAST_TEXT_MAX} characters.", field="text")
    if workflow is not None and not workflow.is_active:
        raise ValidationFailed(
            "This workflow is switched off.", field="workflow", code="inactive_workflow"
        )
    payload: dict[str, Any] = {"text": text}
    if title:
        payload["title"] = title
    if workflow is not None:
        payload["workflow"] = workflow.key
    with transaction.atomic():
        event, created = event_accept(
            actor=actor,
            type=BROADCAST,
            source_id=source_id,
            subject={Event.SubjectKind.SEGMENT: segment.key},
            payload=payload,
        )
        if created:
            audit_record(
                actor=actor,
                action="broadcast.sent",
                target=event,
                data={"segment": segment.key, "title": title},
            )
    return event, created
