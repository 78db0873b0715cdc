"""Reminders API: the signed-in customer's own reminders and meter readings under /me, and staff
setting one up for a customer."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from pocketdesk.accounts.auth import customer_auth, staff_auth
from pocketdesk.customers.selectors import customer_get, customer_of_user
from pocketdesk.notifications import reminder_selectors as selectors
from pocketdesk.notifications.models import Reminder
from pocketdesk.notifications.schemas import ReadingIn, ReminderIn, ReminderOut, ReminderPatch
from pocketdesk.notifications.services import reminders

router = Router(tags=["notifications"])


def reminder_out(reminder: Reminder) -> dict[str, Any]:
    customer = reminder.customer
    zone = reminders.customer_zone(customer)
    remaining = None
    if reminder.meter_every is not None and reminder.meter_base is not None:
        done = (reminder.meter_reading or reminder.meter_base) - reminder.meter_base
        remaining = max(reminder.meter_every - done, 0)
    return {
        "id": reminder.public_id,
        "customer": customer.public_id,
        "title": reminder.title,
        "event_type": reminder.event_type,
        "payload": reminder.payload,
        "rrule": reminder.rrule,
        "starts_at": reminder.starts_at,
        "time_zone": zone.key,
        "meter_unit": reminder.meter_unit,
        "meter_every": reminder.meter_every,
        "meter_base": reminder.meter_base,
        "meter_reading": reminder.meter_reading,
        "meter_read_at": reminder.meter_read_at,
        "meter_remaining": remaining,
        "next_run_at": reminder.next_run_at,
        "next_run_local": reminder.next_run_at.astimezone(zone).isoformat()
        if reminder.next_run_at
        else None,
        "fired_count": reminder.fired_count,
        "last_fired_at": reminder.last_fired_at,
        "is_active": reminder.is_active,
        "created_at": reminder.created_at,
    }


def _create(request: HttpRequest, customer: Any, payload: ReminderIn) -> Status:
    reminder = reminders.reminder_create(
        actor=request.auth,  # type: ignore[attr-defined]
        customer=customer,
        title=payload.title,
        rrule=payload.rrule,
        starts_at=payload.starts_at,
        meter_unit=payload.meter_unit,
        meter_every=payload.meter_every,
        meter_reading=payload.meter_reading,
        event_type=payload.event_type,
        payload=payload.payload,
    )
    return Status(201, reminder_out(reminder))


@router.get("/me/reminders", response=list[ReminderOut], auth=customer_auth, summary="My reminders")
def my_reminders(request: HttpRequest) -> list[dict[str, Any]]:
    return [reminder_out(r) for r in selectors.reminder_list(actor=request.auth)]  # type: ignore[attr-defined]


@router.post(
    "/me/reminders", response={201: ReminderOut}, auth=customer_auth, summary="Add a reminder"
)
def my_reminder_create(request: HttpRequest, payload: ReminderIn) -> Status:
    return _create(request, customer_of_user(actor=request.auth), payload)  # type: ignore[attr-defined]


@router.patch("/me/reminders/{reminder_id}", response=ReminderOut, auth=customer_auth)
def my_reminder_update(
    request: HttpRequest, reminder_id: str, payload: ReminderPatch
) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    reminder = selectors.reminder_get(actor=actor, public_id=reminder_id)
    changes = payload.model_dump(exclude_unset=True)
    if "rrule" in changes and changes["rrule"] is None:
        changes["rrule"] = ""
    return reminder_out(reminders.reminder_update(actor=actor, reminder=reminder, **changes))


@router.delete("/me/reminders/{reminder_id}", response={204: None}, auth=customer_auth)
def my_reminder_delete(request: HttpRequest, reminder_id: str) -> Status:
    actor = request.auth  # type: ignore[attr-defined]
    reminder = selectors.reminder_get(actor=actor, public_id=reminder_id)
    reminders.reminder_delete(actor=actor, reminder=reminder)
    return Status(204, None)


@router.post(
    "/me/reminders/{reminder_id}/readings",
    response=ReminderOut,
    auth=customer_auth,
    summary="Report a meter reading",
)
def my_reading_report(request: HttpRequest, reminder_id: str, payload: ReadingIn) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    reminder = selectors.reminder_get(actor=actor, public_id=reminder_id)
    return reminder_out(
        reminders.meter_reading_report(
            actor=actor, reminder=reminder, value=payload.value, at=payload.at
        )
    )


@router.get(
    "/customers/{customer_id}/reminders",
    response=list[ReminderOut],
    auth=staff_auth,
    summary="A customer's reminders",
)
def customer_reminders(request: HttpRequest, customer_id: str) -> list[dict[str, Any]]:
    actor = request.auth  # type: ignore[attr-defined]
    customer = customer_get(actor=actor, public_id=customer_id)
    return [reminder_out(r) for r in selectors.reminder_list(actor=actor, customer=customer)]


@router.post(
    "/customers/{customer_id}/reminders",
    response={201: ReminderOut},
    auth=staff_auth,
    summary="Add a reminder for a customer",
)
def customer_reminder_create(request: HttpRequest, customer_id: str, payload: ReminderIn) -> Status:
    customer = customer_get(actor=request.auth, public_id=customer_id)  # type: ignore[attr-defined]
    return _create(request, customer, payload)
