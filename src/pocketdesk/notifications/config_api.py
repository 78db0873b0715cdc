"""Notifications configuration API for staff: workflows, alert rules, templates (with preview),
segments and one-off broadcasts. Agents read and broadcast; admins also write."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from pocketdesk.accounts.auth import staff_auth
from pocketdesk.accounts.models import User
from pocketdesk.core.errors import NotFound, ValidationFailed
from pocketdesk.notifications import config_selectors as selectors
from pocketdesk.notifications.models import AlertRule, Event, Segment, Template, Workflow
from pocketdesk.notifications.schemas import (
    BroadcastIn,
    EventOut,
    RuleIn,
    RuleOut,
    RulePatch,
    SegmentCountOut,
    SegmentIn,
    SegmentOut,
    SegmentPatch,
    TemplateIn,
    TemplateOut,
    TemplatePreviewIn,
    TemplatePreviewOut,
    WorkflowIn,
    WorkflowOut,
    WorkflowPatch,
)
from pocketdesk.notifications.services import configuration
from pocketdesk.notifications.texts import sms_warning

router = Router(tags=["notifications"], auth=staff_auth)


def _workflow_out(workflow: Workflow) -> dict[str, Any]:
    return {
        "id": workflow.public_id,
        "key": workflow.key,
        "name": workflow.name,
        "purpose": workflow.purpose,
        "category": workflow.category,
        "critical": workflow.critical,
        "steps": workflow.steps,
        "is_active": workflow.is_active,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    }


def _rule_out(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.public_id,
        "name": rule.name,
        "event_type": rule.event_type,
        "condition": rule.condition,
        "workflow": rule.workflow.key,
        "priority": rule.priority,
        "is_active": rule.is_active,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def _template_out(template: Template) -> dict[str, Any]:
    return {
        "id": template.pk,
        "event_type": template.event_type,
        "channel_kind": template.channel_kind,
        "language": template.language,
        "subject": template.subject,
        "body": template.body,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def _segment_out(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.public_id,
        "key": segment.key,
        "name": segment.name,
        "filters": segment.filters,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }


def _event_out(event: Event, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": event.public_id,
        "type": event.type,
        "source_id": event.source_id,
        "subject_kind": event.subject_kind,
        "subject": event.subject,
        "payload": event.payload,
        "critical": event.critical,
        "state": event.state,
        "recipients": event.recipients,
        "received_at": event.received_at,
        "counts": counts,
    }


def _referenced_workflow(actor: User, workflow_id: str) -> Workflow:
    """A workflow named in a request body: 422 when there is none (the URL was right)."""
    try:
        return selectors.workflow_get(actor=actor, workflow_id=workflow_id)
    except NotFound as error:
        raise ValidationFailed(
            f"No workflow {workflow_id!r}.", field="workflow", code="unknown_workflow"
        ) from error


def _referenced_segment(actor: User, segment_id: str) -> Segment:
    try:
        return selectors.segment_get_for(actor=actor, segment_id=segment_id)
    except NotFound as error:
        raise ValidationFailed(
            f"No segment {segment_id!r}.", field="segment", code="unknown_segment"
        ) from error


# --- workflows -------------------------------------------------------------------------------


@router.get("/workflows", response=list[WorkflowOut], summary="List workflows")
def workflow_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [_workflow_out(w) for w in selectors.workflow_list(actor=request.auth)]  # type: ignore[attr-defined]


@router.post("/workflows", response={201: WorkflowOut}, summary="Create a workflow")
def workflow_create(request: HttpRequest, payload: WorkflowIn) -> Status:
    workflow = configuration.workflow_create(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, _workflow_out(workflow))


@router.get("/workflows/{workflow_id}", response=WorkflowOut)
def workflow_detail(request: HttpRequest, workflow_id: str) -> dict[str, Any]:
    workflow = selectors.workflow_get(actor=request.auth, workflow_id=workflow_id)  # type: ignore[attr-defined]
    return _workflow_out(workflow)


@router.patch("/workflows/{workflow_id}", response=WorkflowOut, summary="Change a workflow")
def workflow_update(
    request: HttpRequest, workflow_id: str, payload: WorkflowPatch
) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    workflow = selectors.workflow_get(actor=actor, workflow_id=workflow_id)
    changed = configuration.workflow_update(
        actor=actor, workflow=workflow, **payload.dict(exclude_unset=True)
    )
    return _workflow_out(changed)


@router.delete("/workflows/{workflow_id}", response={204: None}, summary="Delete a workflow")
def workflow_delete(request: HttpRequest, workflow_id: str) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    workflow = selectors.workflow_get(actor=actor, workflow_id=workflow_id)
    configuration.workflow_delete(actor=actor, workflow=workflow)
    return Status(204, None)


# --- rules -----------------------------------------------------------------------------------


@router.get("/rules", response=list[RuleOut], summary="List alert rules")
def rule_list(request: HttpRequest, event_type: str = "") -> list[dict[str, Any]]:
    rules = selectors.rule_list(actor=request.auth, event_type=event_type)  # type: ignore[attr-defined]
    return [_rule_out(rule) for rule in rules]


@router.post("/rules", response={201: RuleOut}, summary="Create an alert rule")
def rule_create(request: HttpRequest, payload: RuleIn) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    data = payload.dict()
    workflow = _referenced_workflow(actor, data.pop("workflow"))
    rule = configuration.rule_create(actor=actor, workflow=workflow, **data)
    return Status(201, _rule_out(rule))


@router.get("/rules/{rule_id}", response=RuleOut)
def rule_detail(request: HttpRequest, rule_id: str) -> dict[str, Any]:
    return _rule_out(selectors.rule_get(actor=request.auth, rule_id=rule_id))  # type: ignore[attr-defined]


@router.patch("/rules/{rule_id}", response=RuleOut, summary="Change an alert rule")
def rule_update(request: HttpRequest, rule_id: str, payload: RulePatch) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    rule = selectors.rule_get(actor=actor, rule_id=rule_id)
    data = payload.dict(exclude_unset=True)
    workflow_id = data.pop("workflow", None)
    workflow = _referenced_workflow(actor, workflow_id) if workflow_id else None
    return _rule_out(configuration.rule_update(actor=actor, rule=rule, workflow=workflow, **data))


@router.delete("/rules/{rule_id}", response={204: None}, summary="Delete an alert rule")
def rule_delete(request: HttpRequest, rule_id: str) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    configuration.rule_delete(actor=actor, rule=selectors.rule_get(actor=actor, rule_id=rule_id))
    return Status(204, None)


# --- templates -------------------------------------------------------------------------------


@router.get("/templates", response=list[TemplateOut], summary="List templates")
def template_list(request: HttpRequest, event_type: str = "") -> list[dict[str, Any]]:
    templates = selectors.template_list(actor=request.auth, event_type=event_type)  # type: ignore[attr-defined]
    return [_template_out(template) for template in templates]


@router.post(
    "/templates",
    response={200: TemplateOut, 201: TemplateOut},
    summary="Create or replace the template of an event type, channel and language",
)
def template_upsert(request: HttpRequest, payload: TemplateIn) -> Status:
    template, created = configuration.template_upsert(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    return Status(201 if created else 200, _template_out(template))


@router.post("/templates/preview", response=TemplatePreviewOut, summary="Preview a text")
def template_preview(request: HttpRequest, payload: TemplatePreviewIn) -> dict[str, Any]:
    """The text a customer would get: of `body` when given (unsaved), else of the stored
    templates or the built-in text; SMS segments and advice when an SMS runs long."""
    rendered = configuration.template_preview(**payload.dict())
    return {
        "subject": rendered.subject,
        "body": rendered.body,
        "segments": rendered.segments,
        "warning": sms_warning(rendered),
    }


@router.get("/templates/{template_id}", response=TemplateOut)
def template_detail(request: HttpRequest, template_id: int) -> dict[str, Any]:
    template = selectors.template_get(actor=request.auth, template_id=template_id)  # type: ignore[attr-defined]
    return _template_out(template)


@router.delete("/templates/{template_id}", response={204: None}, summary="Delete a template")
def template_delete(request: HttpRequest, template_id: int) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    template = selectors.template_get(actor=actor, template_id=template_id)
    configuration.template_delete(actor=actor, template=template)
    return Status(204, None)


# --- segments --------------------------------------------------------------------------------


@router.get("/segments", response=list[SegmentOut], summary="List segments")
def segment_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [_segment_out(s) for s in selectors.segment_list(actor=request.auth)]  # type: ignore[attr-defined]


@router.post("/segments", response={201: SegmentOut}, summary="Create a segment")
def segment_create(request: HttpRequest, payload: SegmentIn) -> Status:
    segment = configuration.segment_create(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, _segment_out(segment))


@router.get("/segments/{segment_id}", response=SegmentOut)
def segment_detail(request: HttpRequest, segment_id: str) -> dict[str, Any]:
    segment = selectors.segment_get_for(actor=request.auth, segment_id=segment_id)  # type: ignore[attr-defined]
    return _segment_out(segment)


@router.get("/segments/{segment_id}/count", response=SegmentCountOut, summary="Count members")
def segment_count(request: HttpRequest, segment_id: str) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    segment = selectors.segment_get_for(actor=actor, segment_id=segment_id)
    count = selectors.segment_count(actor=actor, segment=segment)
    return {"id": segment.public_id, "key": segment.key, "count": count}


@router.patch("/segments/{segment_id}", response=SegmentOut, summary="Change a segment")
def segment_update(request: HttpRequest, segment_id: str, payload: SegmentPatch) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    segment = selectors.segment_get_for(actor=actor, segment_id=segment_id)
    changed = configuration.segment_update(
        actor=actor, segment=segment, **payload.dict(exclude_unset=True)
    )
    return _segment_out(changed)


@router.delete("/segments/{segment_id}", response={204: None}, summary="Delete a segment")
def segment_delete(request: HttpRequest, segment_id: str) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    segment = selectors.segment_get_for(actor=actor, segment_id=segment_id)
    configuration.segment_delete(actor=actor, segment=segment)
    return Status(204, None)


# --- broadcasts ------------------------------------------------------------------------------


@router.get("/broadcasts", response=list[EventOut], summary="Recent broadcasts")
def broadcast_list(request: HttpRequest) -> list[dict[str, Any]]:
    events = list(selectors.broadcast_list(actor=request.auth))  # type: ignore[attr-defined]
    counts = selectors.event_status_counts_many(events=events)
    return [_event_out(event, counts[event.pk]) for event in events]


@router.post(
    "/broadcasts",
    response={200: EventOut, 201: EventOut},
    summary="Send a one-off message to a segment",
)
def broadcast_send(request: HttpRequest, payload: BroadcastIn) -> Status:
    """Idempotent by `source_id`: a replay answers 200 with the first broadcast."""
    actor = request.auth  # type: ignore[attr-defined]
    segment = _referenced_segment(actor, payload.segment)
    workflow = _referenced_workflow(actor, payload.workflow) if payload.workflow else None
    event, created = configuration.broadcast_send(
        actor=actor,
        segment=segment,
        title=payload.title,
        text=payload.text,
        source_id=payload.source_id,
        workflow=workflow,
    )
    counts = selectors.event_status_counts_many(events=[event])[event.pk]
    return Status(201 if created else 200, _event_out(event, counts))
