"""Reminder reads, scoped by the acting user: a customer sees only their own reminders; staff
see the customer's they are looking at."""

from django.db.models import F, QuerySet

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core.errors import NotFound
from pocketdesk.customers.models import Customer
from pocketdesk.notifications.models import Reminder

LIST_MAX = 100


def reminder_list(*, actor: User, customer: Customer | None = None) -> QuerySet[Reminder]:
    """A customer's own reminders; staff see the given customer's. Soonest first, then newest."""
    if actor.role == Role.CUSTOMER:
        reminders = Reminder.objects.filter(customer__user=actor)
    elif actor.role in STAFF_ROLES and customer is not None:
        reminders = Reminder.objects.filter(customer=customer)
    else:
        return Reminder.objects.none()
    return reminders.select_related("customer").order_by(
        F("next_run_at").asc(nulls_last=True), "-created_at", "-pk"
    )[:LIST_MAX]


def reminder_get(*, actor: User, public_id: str) -> Reminder:
    """A reminder the actor may change: a customer's own; any, for staff."""
    if actor.role == Role.CUSTOMER:
        reminders = Reminder.objects.filter(customer__user=actor)
    elif actor.role in STAFF_ROLES:
        reminders = Reminder.objects.all()
    else:
        reminders = Reminder.objects.none()
    reminder = reminders.select_related("customer").filter(public_id=public_id).first()
    if reminder is None:
        raise NotFound("No such reminder.")
    return reminder
