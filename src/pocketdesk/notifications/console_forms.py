"""Forms of the console's notification pages. They only parse (JSON, choices); the services
check and say what is wrong."""

import json
import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pocketdesk.notifications.event_types import BROADCAST, EVENT_TYPES
from pocketdesk.notifications.models import Segment, Workflow
from pocketdesk.notifications.services.configuration import TEMPLATE_CHANNELS

STEPS_HELP = _(
    'A JSON list of steps, e.g. [{"type": "send", "channels": ["webpush", "phone", "email"], '
    '"fallback_after_minutes": 15}, {"type": "delay", "minutes": 60}, {"type": "digest", '
    '"window_minutes": 30}, {"type": "throttle", "limit": 3, "period_minutes": 1440}].'
)
CONDITION_HELP = _(
    'CEL over event, payload and customer, e.g. payload.delay_minutes > 30 && "phone" in '
    "customer.channels. Empty: always holds."
)
FILTERS_HELP = _(
    'A JSON object, every filter must match, e.g. {"language": ["fr"], "country": ["FR"], '
    '"consent": ["marketing"], "topic": "flight:AC123", "created_after": "2026-01-31", '
    '"time_zone": ["Europe/Paris"], "customers": ["cus_…"]}.'
)


def _json(raw: str, *, empty: Any, what: str) -> Any:
    if not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            _("%(what)s is not valid JSON: %(reason)s"), params={"what": what, "reason": error.msg}
        ) from error


def event_type_choices(*, broadcast: bool = False) -> list[tuple[str, str]]:
    return [(name, name) for name in EVENT_TYPES if broadcast or name != BROADCAST]


class WorkflowForm(forms.Form):
    key = forms.CharField(label=_("Key"), max_length=60)
    name = forms.CharField(label=_("Name"), max_length=120)
    purpose = forms.ChoiceField(label=_("Consent needed"), choices=Workflow.Purpose.choices)
    category = forms.CharField(label=_("Throttle category"), max_length=40, initial="general")
    critical = forms.BooleanField(
        label=_("Critical (past preferences, send windows and digests)"), required=False
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    steps = forms.CharField(
        label=_("Steps"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=STEPS_HELP,
        initial='[{"type": "send", "channels": []}]',
    )

    def clean_steps(self) -> Any:
        return _json(self.cleaned_data.get("steps") or "", empty=None, what=gettext("Steps"))


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    event_type = forms.ChoiceField(
        label=_("Event type"), choices=lambda: event_type_choices(broadcast=True)
    )
    condition = forms.CharField(
        label=_("Condition"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=CONDITION_HELP,
    )
    workflow = forms.ModelChoiceField(
        label=_("Workflow"), queryset=Workflow.objects.order_by("key"), to_field_name="key"
    )
    priority = forms.IntegerField(label=_("Priority (lower first)"), initial=100)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)


def _channel_choices() -> list[tuple[str, Any]]:
    return [("", _("any channel")), *((kind, kind) for kind in sorted(TEMPLATE_CHANNELS))]


def _language_choices() -> list[tuple[str, Any]]:
    return [("", _("any language")), *settings.LANGUAGES]


class TemplateForm(forms.Form):
    event_type = forms.ChoiceField(
        label=_("Event type"), choices=lambda: event_type_choices(broadcast=True)
    )
    channel_kind = forms.ChoiceField(label=_("Channel"), choices=_channel_choices, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=_language_choices, required=False)
    subject = forms.CharField(
        label=_("Subject or title (email, push)"), max_length=200, required=False
    )
    body = forms.CharField(
        label=_("Text"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "A Django template: {{ payload.flight }}, {{ count }} and {% for item in digest %} "
            "for digests."
        ),
    )
    sample = forms.CharField(
        label=_("Sample payload for the preview (JSON, not saved)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_sample(self) -> Any:
        value = _json(self.cleaned_data.get("sample") or "", empty={}, what=gettext("The sample"))
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The sample is a JSON object."))
        return value


class SegmentForm(forms.Form):
    key = forms.CharField(label=_("Key"), max_length=60)
    name = forms.CharField(label=_("Name"), max_length=120)
    filters = forms.CharField(
        label=_("Filters"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=FILTERS_HELP,
    )

    def clean_filters(self) -> Any:
        return _json(self.cleaned_data.get("filters") or "", empty={}, what=gettext("Filters"))


class BroadcastForm(forms.Form):
    segment = forms.ModelChoiceField(
        label=_("Segment"), queryset=Segment.objects.order_by("key"), to_field_name="key"
    )
    workflow = forms.ModelChoiceField(
        label=_("Workflow"),
        queryset=Workflow.objects.filter(is_active=True).order_by("key"),
        to_field_name="key",
        required=False,
        empty_label=_("by the rules, else the customer's first channel"),
    )
    title = forms.CharField(label=_("Title (email subject, push title)"), required=False)
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 4}))
    # One id per form shown: a second click on Send replays the first broadcast.
    source_id = forms.CharField(widget=forms.HiddenInput, max_length=200)

    @staticmethod
    def new_source_id() -> str:
        return f"console-{uuid.uuid4().hex}"
