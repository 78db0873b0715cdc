"""The due sweep is registered with the scheduler and hands due notifications on when run."""

import pytest

from pocketdesk.core.schedule import periodic_tasks
from pocketdesk.notifications import tasks
from pocketdesk.notifications.models import Notification
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.fanout import event_fan_out
from pocketdesk.notifications.tests.factories import customer


def test_the_due_sweep_runs_every_five_seconds():
    (due,) = [p for p in periodic_tasks() if p.name == "notifications.due"]
    assert due.task is tasks.notifications_due
    assert due.every_seconds == 5


@pytest.mark.django_db
def test_the_due_task_sends_what_is_due(make_user):
    ada = customer(10, phone=False, user=make_user("customer"))
    event, _ = event_accept(
        actor=make_user("agent"),
        type="order.ready_for_pickup",
        source_id="o-1",
        subject={"customer": ada.public_id},
        payload={"order": "55123", "location": "Gate 4"},
    )
    event_fan_out(event_id=event.pk)
    assert tasks.notifications_due.call() == 1
    assert tasks.notifications_due.call() == 0
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.SENT
    assert ada.timeline.get(kind="notification.sent").summary == (
        "Order ready in the app: Your order 55123 is ready for pickup at Gate 4."
    )
