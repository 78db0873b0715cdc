"""End to end through the worker: an event for a flight's topic reaches each subscribed
passenger by SMS at the (fake) Twilio, once, with a line on each passenger's timeline."""

import pytest
from django.core.management import call_command

from pocketdesk.customers.models import TimelineEntry
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.models import Outbound
from pocketdesk.notifications.models import Event, Notification
from pocketdesk.notifications.services.engine import notifications_due_send
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.fanout import event_fan_out
from pocketdesk.notifications.services.subscriptions import subscription_add
from pocketdesk.notifications.tests.factories import NUMBER, SID, TOKEN, customer, twilio_channel

TOPIC = "flight:AC123:2026-11-23"


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


@pytest.fixture
def fake():
    with FakeProviders(twilio_accounts={SID: TOKEN}, status_delay=0.02) as running:
        yield running


def _sms_posts(fake: FakeProviders) -> list:
    return [
        r for r in fake.received if r["method"] == "POST" and r["path"].endswith("Messages.json")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_flight_delay_reaches_each_passenger_once_by_sms(
    fake, make_user, api_as, live_server, settings
):
    settings.PD_PUBLIC_URL = live_server.url  # where the fake posts its receipts
    twilio_channel(api_base=fake.base_url)
    partner = make_user("partner")
    passengers = [customer(n) for n in range(10, 13)]
    unconsented = customer(13, alerts=False)
    for who in [*passengers, unconsented]:
        subscription_add(actor=partner, customer=who, topic=TOPIC)

    body = {
        "type": "flight.delayed",
        "source_id": "ops-77",
        "subject": {"topic": TOPIC},
        "payload": {"flight": "AC123", "new_time": "18:40"},
    }
    response = api_as(partner).post("/notifications/events", body)
    assert response.status_code == 201, response.content
    _work()  # fan-out, then the due sweep, then the sends

    posts = _sms_posts(fake)
    assert sorted(p["params"]["To"][0] for p in posts) == [
        "+447911100010",
        "+447911100011",
        "+447911100012",
    ]
    assert {p["params"]["From"][0] for p in posts} == {NUMBER}
    assert {p["params"]["Body"][0] for p in posts} == {"Your flight AC123 is delayed to 18:40."}
    event = Event.objects.get()
    assert (event.state, event.recipients) == (Event.State.FANNED_OUT, 4)
    assert set(Outbound.objects.values_list("status", flat=True)) <= {"sent", "delivered"}
    # the fake's signed receipts reach the live server; their processing moves each along
    assert fake.wait_idle(5)
    _work()
    assert set(Outbound.objects.values_list("status", flat=True)) == {"delivered"}
    assert (
        Notification.objects.filter(status="delivered", deliveries__outbound__isnull=False).count()
        == 3
    )
    assert Notification.objects.get(customer=unconsented).status == "skipped"
    assert TimelineEntry.objects.filter(kind="notification.sent").count() == 3
    entry = passengers[0].timeline.get(kind="notification.sent")
    assert entry.summary == "Flight delayed by SMS / phone: Your flight AC123 is delayed to 18:40."

    # A replayed event, a re-run fan-out and a re-run sweep send nothing more.
    assert api_as(partner).post("/notifications/events", body).status_code == 200
    event_fan_out(event_id=event.pk)
    assert notifications_due_send() == 0
    _work()
    assert len(_sms_posts(fake)) == 3
    assert Outbound.objects.count() == 3
    assert Notification.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_an_undelivered_sms_marks_the_notification_failed_on_the_timeline(
    fake, make_user, live_server, settings
):
    settings.PD_PUBLIC_URL = live_server.url
    twilio_channel(api_base=fake.base_url)
    partner = make_user("partner")
    # the fake Twilio scripts numbers ending 0000 as undelivered (30005, unknown handset)
    passenger = customer(0)  # +447911100000
    subscription_add(actor=partner, customer=passenger, topic=TOPIC)
    event_accept(
        actor=partner,
        type="flight.delayed",
        source_id="ops-78",
        subject={"topic": TOPIC},
        payload={"flight": "AC123", "new_time": "19:10"},
    )
    _work()
    assert fake.wait_idle(5)
    _work()
    assert Notification.objects.get(customer=passenger).status == "failed"
    assert passenger.timeline.filter(kind="notification.failed").exists()
