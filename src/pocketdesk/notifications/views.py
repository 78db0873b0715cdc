"""The customer's bell in the app: their notifications and a "Mark as read" form that works
without JavaScript; and their reminders, with forms to add one, report a reading, remove one."""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from pocketdesk.accounts.models import Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import DomainError, NotFound
from pocketdesk.customers.selectors import customer_of_user
from pocketdesk.notifications import reminder_selectors, selectors
from pocketdesk.notifications.bell_items import bell_items
from pocketdesk.notifications.forms import METER_UNITS, ReadingForm, ReminderForm, schedule_label
from pocketdesk.notifications.models import Reminder
from pocketdesk.notifications.services.bell import notification_read
from pocketdesk.notifications.services.reminders import (
    customer_zone,
    meter_reading_report,
    reminder_create,
    reminder_delete,
)
from pocketdesk.web.views import require_role

LIST_LIMIT = 100


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    items = bell_items(selectors.notification_list(actor=actor, limit=LIST_LIMIT))
    return render(
        request,
        "notifications/app/list.html",
        {"items": items, "unread": sum(item.unread for item in items)},
    )


@login_required
@require_POST
def notification_mark_read(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    try:
        notification = selectors.notification_get(actor=actor, public_id=public_id)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    notification_read(actor=actor, notification=notification)
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("notifications:app-list")


# --- the customer's reminders ----------------------------------------------------------------


@dataclass(frozen=True)
class ReminderItem:
    reminder: Reminder
    schedule: str
    remaining: int | None


def _reminder_items(actor: User) -> list[ReminderItem]:
    items = []
    for reminder in reminder_selectors.reminder_list(actor=actor):
        remaining = None
        if reminder.meter_every is not None and reminder.meter_base is not None:
            done = (reminder.meter_reading or reminder.meter_base) - reminder.meter_base
            remaining = max(reminder.meter_every - done, 0)
        items.append(
            ReminderItem(
                reminder=reminder,
                schedule=str(schedule_label(reminder.rrule)) if reminder.rrule else "",
                remaining=remaining,
            )
        )
    return items


def _reminders_page(
    request: HttpRequest,
    actor: User,
    *,
    form: ReminderForm | None = None,
    error: str = "",
    reading_for: str = "",
    reading_error: str = "",
) -> HttpResponse:
    customer = customer_of_user(actor=actor)
    context = {
        "items": _reminder_items(actor),
        "zone": customer_zone(customer),
        "units": METER_UNITS,
        "form": form or ReminderForm(),
        "error": error,
        "reading_for": reading_for,
        "reading_error": reading_error,
    }
    failed = bool(error or reading_error or (form is not None and form.errors))
    return render(
        request, "notifications/app/reminders.html", context, status=422 if failed else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def reminder_list(request: HttpRequest) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    if request.method != "POST":
        return _reminders_page(request, actor)
    form = ReminderForm(request.POST)
    if not form.is_valid():
        return _reminders_page(request, actor, form=form)
    customer = customer_of_user(actor=actor)
    today = clock.now().astimezone(customer_zone(customer)).date()
    try:
        reminder_create(
            actor=actor,
            customer=customer,
            title=form.cleaned_data["title"],
            rrule=form.rrule(),
            starts_at=form.starts_at(today),
            meter_every=form.cleaned_data["meter_every"],
            meter_unit=form.cleaned_data["meter_unit"] if form.cleaned_data["meter_every"] else "",
            meter_reading=form.cleaned_data["meter_reading"]
            if form.cleaned_data["meter_every"]
            else None,
        )
    except DomainError as failure:
        return _reminders_page(request, actor, form=form, error=failure.detail)
    return redirect("notifications:app-reminders")


@login_required
@require_POST
def reminder_reading(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    try:
        reminder = reminder_selectors.reminder_get(actor=actor, public_id=public_id)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    form = ReadingForm(request.POST)
    if not form.is_valid():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _reminders_page(request, actor, reading_for=public_id, reading_error=message)
    try:
        meter_reading_report(actor=actor, reminder=reminder, value=form.cleaned_data["value"])
    except DomainError as failure:
        return _reminders_page(request, actor, reading_for=public_id, reading_error=failure.detail)
    return redirect("notifications:app-reminders")


@login_required
@require_POST
def reminder_remove(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    try:
        reminder = reminder_selectors.reminder_get(actor=actor, public_id=public_id)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    reminder_delete(actor=actor, reminder=reminder)
    return redirect("notifications:app-reminders")
