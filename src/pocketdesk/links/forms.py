import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

RULES_HELP = _(
    'A JSON list, first match wins: [{"target_url": "https://…", "conditions": '
    '[{"type": "device", "value": "ios"}, {"type": "language", "value": "fr"}]}]. '
    "Condition types: device (ios, android, desktop), language, time (start, end, tz), "
    "date (from, until), query (name, value)."
)


class LinkForm(forms.Form):
    target_url = forms.CharField(label=_("Target URL"), max_length=2000)
    code = forms.CharField(label=_("Code"), max_length=32, required=False)
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    valid_from = forms.DateTimeField(label=_("Valid from"), required=False)
    valid_until = forms.DateTimeField(label=_("Valid until"), required=False)
    max_visits = forms.IntegerField(label=_("Maximum visits"), required=False, min_value=1)
    expired_message = forms.CharField(label=_("Expired message"), max_length=500, required=False)
    rules = forms.CharField(
        label=_("Rules"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=RULES_HELP,
    )

    def clean_rules(self) -> list[Any]:
        raw = self.cleaned_data.get("rules") or "[]"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("Rules are not valid JSON.")) from exc
        if not isinstance(value, list):
            raise forms.ValidationError(_("Rules are a JSON list."))
        return value
