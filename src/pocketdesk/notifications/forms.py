"""The customer's reminder forms in the app: presets for the usual schedules, a meter, a
reading."""

from datetime import date, datetime, time
from typing import TYPE_CHECKING

from dateutil.relativedelta import relativedelta
from django import forms
from django.utils.translation import gettext_lazy as _

from pocketdesk.notifications.services.reminders import METER_MAX

if TYPE_CHECKING:  # django-stubs-ext is a dev dependency
    from django_stubs_ext import StrOrPromise

# key → (label, RRULE, one period): the first reminder is one period from today unless a date
# is given.
SCHEDULES: dict[str, tuple["StrOrPromise", str, relativedelta]] = {
    "3m": (_("Every 3 months"), "FREQ=MONTHLY;INTERVAL=3", relativedelta(months=3)),
    "6m": (_("Every 6 months"), "FREQ=MONTHLY;INTERVAL=6", relativedelta(months=6)),
    "1y": (_("Every year"), "FREQ=YEARLY", relativedelta(years=1)),
}
METER_UNITS: dict[str, "StrOrPromise"] = {"km": _("km"), "mi": _("miles"), "h": _("hours")}


def schedule_label(rrule: str) -> "StrOrPromise":
    """The preset's name for a rule, or the rule itself."""
    for label, rule, _period in SCHEDULES.values():
        if rule == rrule:
            return label
    return rrule


class ReminderForm(forms.Form):
    title = forms.CharField(label=_("What to remember"), max_length=200)
    every = forms.ChoiceField(
        label=_("Repeat"),
        required=False,
        initial="6m",
        choices=[("", _("Not on a schedule")), *((k, v[0]) for k, v in SCHEDULES.items())],
    )
    first_on = forms.DateField(
        label=_("First reminder on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty: one period from today."),
    )
    at = forms.TimeField(
        label=_("At"),
        initial=time(9, 0),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    meter_every = forms.IntegerField(
        label=_("Or every"), required=False, min_value=1, max_value=METER_MAX
    )
    meter_unit = forms.ChoiceField(
        label=_("Unit"), choices=list(METER_UNITS.items()), initial="km", required=False
    )
    meter_reading = forms.IntegerField(
        label=_("Reading now"), required=False, min_value=0, max_value=METER_MAX
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        if not data.get("every") and data.get("meter_every") is None:
            raise forms.ValidationError(_("Choose a schedule, a distance or both."))
        return data

    def rrule(self) -> str:
        every = self.cleaned_data.get("every")
        return SCHEDULES[every][1] if every else ""

    def starts_at(self, today: date) -> datetime | None:
        """The first reminder on the customer's wall clock (naive: the service reads it in
        their zone); None without a schedule."""
        every = self.cleaned_data.get("every")
        if not every:
            return None
        first: date = self.cleaned_data.get("first_on") or today + SCHEDULES[every][2]
        return datetime.combine(first, self.cleaned_data["at"])


class ReadingForm(forms.Form):
    value = forms.IntegerField(label=_("New reading"), min_value=0, max_value=METER_MAX)
