from datetime import time
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from pocketdesk.customers.models import Purpose
from pocketdesk.customers.services import Window


class SettingsForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    time_zone = forms.CharField(label=_("Time zone"), max_length=64)
    quiet_from = forms.TimeField(
        label=_("Quiet from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_until = forms.TimeField(
        label=_("Quiet until"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    alerts = forms.BooleanField(label=_("Service alerts"), required=False)
    marketing = forms.BooleanField(label=_("Offers and news"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("quiet_from"), data.get("quiet_until")
        if (start is None) != (end is None):
            raise forms.ValidationError(_("Give both ends of your quiet hours, or neither."))
        return data

    def send_windows(self) -> list[Window] | None:
        """Quiet hours are the complement of one daily send window, so they include midnight."""
        start: time | None = self.cleaned_data.get("quiet_from")
        end: time | None = self.cleaned_data.get("quiet_until")
        if start is None or end is None:
            return []
        if start > end:  # 22:00 → 07:00: reachable 07:00–22:00
            opens, closes = end, start
        elif start == time(0, 0) and end > start:
            opens, closes = end, time(23, 59, 59)
        else:
            raise forms.ValidationError(
                _("Quiet hours must include midnight (e.g. 22:00 to 07:00).")
            )
        return [Window(day, opens, closes) for day in range(7)]

    @staticmethod
    def consent_purposes() -> list[str]:
        return [Purpose.ALERTS, Purpose.MARKETING]
