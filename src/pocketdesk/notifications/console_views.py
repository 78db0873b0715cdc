"""Console pages for notification settings: workflows, rules, templates (live preview),
segments (member counts) and broadcasts. Staff read; admins change settings; agents and admins
broadcast. Every write goes through services.configuration."""

import json
from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.notifications import config_selectors as selectors
from pocketdesk.notifications.console_forms import (
    BroadcastForm,
    RuleForm,
    SegmentForm,
    TemplateForm,
    WorkflowForm,
)
from pocketdesk.notifications.event_types import BROADCAST, EVENT_TYPES
from pocketdesk.notifications.models import Template
from pocketdesk.notifications.rules import rule_condition_check
from pocketdesk.notifications.services import configuration
from pocketdesk.notifications.texts import RenderedText, sms_warning, text_renderer
from pocketdesk.web.views import require_role

PAGE = "notifications/console/config_{}.html"
# What a preview shows for a template of any channel, and for a broadcast.
PREVIEW_CHANNELS = (ContactKind.PHONE, ContactKind.EMAIL)
BROADCAST_PREVIEW_CHANNELS = (ContactKind.PHONE, ContactKind.WEBPUSH, ContactKind.EMAIL)
SAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    "flight.delayed": {"flight": "AC123", "new_time": "18:40", "delay_minutes": 45},
    "order.ready_for_pickup": {"order": "55123", "location": "Main Street"},
    "account.low_balance": {"balance": "4.20 EUR"},
    "usage.threshold_exceeded": {"used": "9 GB", "limit": "10 GB"},
    "maintenance.due": {"product": "Boiler X200", "due": "2026-12-01"},
    "recall.notice": {"product": "Kettle K1", "action": "Stop using it and reply YES."},
    BROADCAST: {"title": "Holiday hours", "text": "We close at 16:00 on 24 December."},
}


def _staff(request: HttpRequest) -> User:
    return require_role(request, STAFF_ROLES)


def _context(actor: User, tab: str, **extra: Any) -> dict[str, Any]:
    return {"tab": tab, "is_admin": actor.role == Role.ADMIN, **extra}


def _form_error(form: forms.Form, error: DomainError) -> None:
    """Put a service's error on its field when the form has one, else on the form."""
    field = None
    if isinstance(error, ValidationFailed):
        names = [e.get("field") for e in error.extra.get("errors", [])]
        field = next((name for name in names if name in form.fields), None)
    form.add_error(field, error.detail)


def _status(form: forms.Form, error: DomainError | None = None) -> int:
    if isinstance(error, PermissionDenied):
        return 403
    return 422 if form.errors else 200


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/not_found.html", status=404)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


# --- workflows -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def workflows(request: HttpRequest) -> HttpResponse:
    actor = _staff(request)
    form = WorkflowForm(request.POST or None)
    failure: DomainError | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            configuration.workflow_create(actor=actor, **data)
        except DomainError as error:
            failure = error
            _form_error(form, error)
        else:
            return redirect("notifications:console-workflows")
    rows = list(selectors.workflow_list(actor=actor))
    context = _context(actor, "workflows", workflows=rows, form=form)
    return render(request, PAGE.format("workflows"), context, status=_status(form, failure))


@login_required
@require_http_methods(["GET", "POST"])
def workflow_edit(request: HttpRequest, workflow_id: str) -> HttpResponse:
    actor = _staff(request)
    try:
        workflow = selectors.workflow_get(actor=actor, workflow_id=workflow_id)
    except NotFound:
        return _not_found(request)
    initial = {
        "key": workflow.key,
        "name": workflow.name,
        "purpose": workflow.purpose,
        "category": workflow.category,
        "critical": workflow.critical,
        "is_active": workflow.is_active,
        "steps": _pretty(workflow.steps),
    }
    form = WorkflowForm(request.POST or None, initial=initial)
    form.fields["key"].disabled = True  # other systems may name it
    failure: DomainError | None = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "delete":
                configuration.workflow_delete(actor=actor, workflow=workflow)
                return redirect("notifications:console-workflows")
            if form.is_valid():
                fields = {k: v for k, v in form.cleaned_data.items() if k != "key"}
                configuration.workflow_update(actor=actor, workflow=workflow, **fields)
                return redirect("notifications:console-workflow", workflow_id=workflow.public_id)
        except DomainError as error:
            failure = error
            _form_error(form, error)
    context = _context(actor, "workflows", workflow=workflow, form=form)
    return render(request, PAGE.format("workflow"), context, status=_status(form, failure))


# --- rules -----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def rules(request: HttpRequest) -> HttpResponse:
    actor = _staff(request)
    form = RuleForm(request.POST or None)
    failure: DomainError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            configuration.rule_create(actor=actor, **form.cleaned_data)
        except DomainError as error:
            failure = error
            _form_error(form, error)
        else:
            return redirect("notifications:console-rules")
    context = _context(actor, "rules", rules=list(selectors.rule_list(actor=actor)), form=form)
    return render(request, PAGE.format("rules"), context, status=_status(form, failure))


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: str) -> HttpResponse:
    actor = _staff(request)
    try:
        rule = selectors.rule_get(actor=actor, rule_id=rule_id)
    except NotFound:
        return _not_found(request)
    initial = {
        "name": rule.name,
        "event_type": rule.event_type,
        "condition": rule.condition,
        "workflow": rule.workflow.key,
        "priority": rule.priority,
        "is_active": rule.is_active,
    }
    form = RuleForm(request.POST or None, initial=initial)
    failure: DomainError | None = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "delete":
                configuration.rule_delete(actor=actor, rule=rule)
                return redirect("notifications:console-rules")
            if form.is_valid():
                configuration.rule_update(actor=actor, rule=rule, **form.cleaned_data)
                return redirect("notifications:console-rule", rule_id=rule.public_id)
        except DomainError as error:
            failure = error
            _form_error(form, error)
    context = _context(actor, "rules", rule=rule, form=form)
    return render(request, PAGE.format("rules"), context, status=_status(form, failure))


@login_required
@require_POST
def rule_condition(request: HttpRequest) -> HttpResponse:
    """The inline check of a condition as it is typed (htmx)."""
    _staff(request)
    error = ""
    try:
        rule_condition_check(request.POST.get("condition", ""))
    except ValidationFailed as failure:
        error = failure.detail
    context = {"condition_error": error, "condition_checked": True}
    return render(request, PAGE.format("rules") + "#condition-check", context)


# --- templates -------------------------------------------------------------------------------


def _template_initial(template: Template | None, event_type: str) -> dict[str, Any]:
    if template is None:
        event_type = event_type if event_type in EVENT_TYPES else next(iter(EVENT_TYPES))
        return {"event_type": event_type, "sample": _pretty(SAMPLE_PAYLOADS.get(event_type, {}))}
    return {
        "event_type": template.event_type,
        "channel_kind": template.channel_kind,
        "language": template.language,
        "subject": template.subject,
        "body": template.body,
        "sample": _pretty(SAMPLE_PAYLOADS.get(template.event_type, {})),
    }


def _template_page(request: HttpRequest, actor: User, template: Template | None) -> HttpResponse:
    event_type = request.GET.get("event_type", "")
    form = TemplateForm(request.POST or None, initial=_template_initial(template, event_type))
    failure: DomainError | None = None
    if request.method == "POST":
        try:
            if template is not None and request.POST.get("action") == "delete":
                configuration.template_delete(actor=actor, template=template)
                return redirect("notifications:console-templates")
            if form.is_valid():
                data = {k: v for k, v in form.cleaned_data.items() if k != "sample"}
                saved, _created = configuration.template_upsert(actor=actor, **data)
                return redirect("notifications:console-template", template_id=saved.pk)
        except DomainError as error:
            failure = error
            _form_error(form, error)
    context = _context(
        actor,
        "templates",
        template=template,
        templates=list(selectors.template_list(actor=actor)) if template is None else [],
        form=form,
    )
    return render(request, PAGE.format("templates"), context, status=_status(form, failure))


@login_required
@require_http_methods(["GET", "POST"])
def templates(request: HttpRequest) -> HttpResponse:
    return _template_page(request, _staff(request), None)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    actor = _staff(request)
    try:
        template = selectors.template_get(actor=actor, template_id=template_id)
    except NotFound:
        return _not_found(request)
    return _template_page(request, actor, template)


def _previews(
    channels: tuple[str, ...], render_one: Callable[[str], RenderedText]
) -> tuple[list[dict[str, Any]], str]:
    previews, error = [], ""
    for channel in channels:
        try:
            rendered = render_one(channel)
        except ValidationFailed as failure:
            error = failure.detail
            break
        previews.append({"channel": channel, "text": rendered, "warning": sms_warning(rendered)})
    return previews, error


@login_required
@require_POST
def template_preview(request: HttpRequest) -> HttpResponse:
    """The rendered text of the template being edited, per channel, with SMS segments (htmx).
    Errors are shown in the preview, not as a failed request."""
    _staff(request)
    form = TemplateForm(request.POST)
    form.is_valid()
    data: Mapping[str, Any] = form.cleaned_data
    error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    previews: list[dict[str, Any]] = []
    if "event_type" in data and "sample" in data:
        channel = data.get("channel_kind") or ""
        language = data.get("language") or ""

        def render_one(kind: str) -> RenderedText:
            return configuration.template_preview(
                event_type=data["event_type"],
                channel_kind=kind,
                language=language,
                payload=data["sample"],
                body=request.POST.get("body", ""),
                subject=request.POST.get("subject", ""),
            )

        previews, render_error = _previews((channel,) if channel else PREVIEW_CHANNELS, render_one)
        error = render_error or ("" if previews else error)
    return render(
        request, PAGE.format("templates") + "#preview", {"previews": previews, "error": error}
    )


# --- segments --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def segments(request: HttpRequest) -> HttpResponse:
    actor = _staff(request)
    form = SegmentForm(request.POST or None)
    failure: DomainError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            segment = configuration.segment_create(actor=actor, **form.cleaned_data)
        except DomainError as error:
            failure = error
            _form_error(form, error)
        else:
            return redirect("notifications:console-segment", segment_id=segment.public_id)
    rows = [
        {"segment": segment, "filters": json.dumps(segment.filters, ensure_ascii=False)}
        for segment in selectors.segment_list(actor=actor)
    ]
    context = _context(actor, "segments", segments=rows, form=form)
    return render(request, PAGE.format("segments"), context, status=_status(form, failure))


@login_required
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, segment_id: str) -> HttpResponse:
    actor = _staff(request)
    try:
        segment = selectors.segment_get_for(actor=actor, segment_id=segment_id)
    except NotFound:
        return _not_found(request)
    initial = {"key": segment.key, "name": segment.name, "filters": _pretty(segment.filters)}
    form = SegmentForm(request.POST or None, initial=initial)
    form.fields["key"].disabled = True  # events name it
    failure: DomainError | None = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "delete":
                configuration.segment_delete(actor=actor, segment=segment)
                return redirect("notifications:console-segments")
            if form.is_valid():
                configuration.segment_update(
                    actor=actor,
                    segment=segment,
                    name=form.cleaned_data["name"],
                    filters=form.cleaned_data["filters"],
                )
                return redirect("notifications:console-segment", segment_id=segment.public_id)
        except DomainError as error:
            failure = error
            _form_error(form, error)
    count = selectors.segment_count(actor=actor, segment=segment)
    context = _context(actor, "segments", segment=segment, form=form, count=count)
    return render(request, PAGE.format("segment"), context, status=_status(form, failure))


@login_required
@require_GET
def segment_count(request: HttpRequest, segment_id: str) -> HttpResponse:
    """A segment's member count (htmx: loaded after the list so a slow count never holds the
    page)."""
    actor = _staff(request)
    try:
        segment = selectors.segment_get_for(actor=actor, segment_id=segment_id)
    except NotFound:
        return _not_found(request)
    count = selectors.segment_count(actor=actor, segment=segment)
    return render(request, PAGE.format("segments") + "#count", {"count": count})


# --- broadcasts ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def broadcasts(request: HttpRequest) -> HttpResponse:
    actor = _staff(request)
    initial = {"source_id": BroadcastForm.new_source_id()}
    form = BroadcastForm(request.POST or None, initial=initial)
    failure: DomainError | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            configuration.broadcast_send(
                actor=actor,
                segment=data["segment"],
                workflow=data["workflow"],
                title=data["title"],
                text=data["text"],
                source_id=data["source_id"],
            )
        except DomainError as error:
            failure = error
            _form_error(form, error)
        else:
            return redirect("notifications:console-broadcasts")
    events = list(selectors.broadcast_list(actor=actor))
    counts = selectors.event_status_counts_many(events=events)
    recent = [{"event": event, "counts": counts[event.pk]} for event in events]
    context = _context(actor, "broadcasts", form=form, recent=recent)
    return render(request, PAGE.format("broadcasts"), context, status=_status(form, failure))


@login_required
@require_POST
def broadcast_preview(request: HttpRequest) -> HttpResponse:
    """What the broadcast would say on SMS (with segments), push and email (htmx)."""
    _staff(request)
    payload = {"text": request.POST.get("text", "").strip()}
    title = " ".join(request.POST.get("title", "").split())
    if title:
        payload["title"] = title
    previews: list[dict[str, Any]] = []
    error = ""
    if payload["text"]:
        renderer = text_renderer()

        def render_one(kind: str) -> RenderedText:
            return renderer.render(
                event_type=BROADCAST, payload=payload, channel_kind=kind, language=""
            )

        previews, error = _previews(BROADCAST_PREVIEW_CHANNELS, render_one)
    else:
        error = _("Write the text to see the preview.")
    return render(
        request, PAGE.format("templates") + "#preview", {"previews": previews, "error": error}
    )
