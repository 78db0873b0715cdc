"""The customer's bell: the home section and /app/notifications/ list the signed-in customer's
notifications with their state, and "Mark as read" works without JavaScript."""

from datetime import UTC, datetime, time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pocketdesk.accounts.models import User
from pocketdesk.core import clock
from pocketdesk.notifications.models import Notification
from pocketdesk.notifications.services.engine import notifications_due_send
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.fanout import event_fan_out
from pocketdesk.notifications.services.subscriptions import subscription_add
from pocketdesk.notifications.tests.factories import customer, twilio_channel

TOPIC = "flight:AC123:2026-12-01"
# A Monday, 05:00 UTC: outside an 08:00–21:00 London window.
MORNING = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


@pytest.fixture
def passenger(make_user):
    user = make_user("customer", email="bell@test.example")
    return customer(1, user=user, windows=[(day, time(8), time(21)) for day in range(7)])


def _login(user_email: str) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(email=user_email))
    return client


def _send(actor, source_id: str, payload: dict, topic: str = TOPIC) -> None:
    event, _ = event_accept(
        actor=actor,
        type="flight.delayed",
        source_id=source_id,
        subject={"topic": topic},
        payload=payload,
    )
    event_fan_out(event_id=event.pk)
    notifications_due_send()


def _csrf(client: Client, path: str) -> str:
    client.get(path)
    return client.cookies["csrftoken"].value


def test_bell_lists_states_escapes_text_and_marks_read(db, passenger, admin_user):
    # given: an SMS sent at noon, and a notification waiting for the quiet hours to end
    twilio_channel()
    subscription_add(actor=admin_user, customer=passenger, topic=TOPIC)
    with clock.frozen_at(MORNING.replace(hour=12)):
        _send(admin_user, "one", {"flight": "AC123", "new_time": "<b>18:40</b>"})
    with clock.frozen_at(MORNING):
        _send(admin_user, "two", {"flight": "AC123", "new_time": "20:10"})
    sent, waiting = (
        Notification.objects.get(event__source_id=s, customer=passenger) for s in ("one", "two")
    )
    assert (sent.status, waiting.status) == ("queued", "scheduled")
    # the SMS is plain text: the markup goes out as typed, the page escapes it
    assert sent.deliveries.get().outbound.text == "Your flight AC123 is delayed to <b>18:40</b>."
    client = _login("bell@test.example")

    # when
    with clock.frozen_at(MORNING):
        page = client.get("/app/notifications/")
        home = client.get("/")

    # then
    html = page.content.decode()
    assert page.status_code == 200
    assert "Sending by SMS" in html
    assert "Waiting for your quiet hours to end" in html
    assert "&lt;b&gt;18:40&lt;/b&gt;" in html
    assert "<b>18:40</b>" not in html
    assert html.count('class="unread"') == 2
    assert 'id="section-notifications"' in home.content.decode()
    assert "Waiting for your quiet hours to end" in home.content.decode()

    # when: "Mark as read" posted as a plain form, with its CSRF token
    token = _csrf(client, "/app/notifications/")
    response = client.post(
        f"/app/notifications/{sent.public_id}/read/",
        {"csrfmiddlewaretoken": token, "next": "/app/notifications/"},
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == "/app/notifications/"
    sent.refresh_from_db()
    assert sent.read_at is not None
    html = client.get("/app/notifications/").content.decode()
    assert html.count('class="unread"') == 1
    assert f'id="notification-{waiting.public_id}" data-notification-id' in html


def test_mark_read_needs_csrf_and_post(db, passenger, admin_user):
    subscription_add(actor=admin_user, customer=passenger, topic=TOPIC)
    _send(admin_user, "one", {"flight": "AC123", "new_time": "18:40"})
    notification = Notification.objects.get()
    client = _login("bell@test.example")
    url = f"/app/notifications/{notification.public_id}/read/"
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    notification.refresh_from_db()
    assert notification.read_at is None


def test_another_customers_notification_is_404(db, passenger, make_user, admin_user):
    # given: someone else's notification, skipped for want of alerts consent
    other_user = make_user("customer", email="other@test.example")
    other = customer(2, user=other_user, alerts=False)
    for who in (passenger, other):
        subscription_add(actor=admin_user, customer=who, topic=TOPIC)
    _send(admin_user, "one", {"flight": "AC123", "new_time": "18:40"})
    theirs = Notification.objects.get(customer=other)
    client = _login("bell@test.example")

    # when / then
    token = _csrf(client, "/app/notifications/")
    response = client.post(
        f"/app/notifications/{theirs.public_id}/read/", {"csrfmiddlewaretoken": token}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert theirs.public_id not in client.get("/app/notifications/").content.decode()
    # the other customer sees theirs, and why it was not sent
    html = _login("other@test.example").get("/app/notifications/").content.decode()
    assert theirs.public_id in html
    assert "Not sent: you have not allowed alerts" in html


def test_staff_cannot_open_the_bell_and_anonymous_is_sent_to_login(db, agent):
    assert Client().get("/app/notifications/").status_code == 302
    client = Client()
    client.force_login(agent)
    assert client.get("/app/notifications/").status_code == 403


def test_empty_bell(db, passenger):
    client = _login("bell@test.example")
    assert "No notifications yet." in client.get("/app/notifications/").content.decode()
    assert 'id="section-notifications"' not in client.get("/").content.decode()


def test_the_360_page_shows_each_delivery_in_constant_queries(agent, passenger, make_user):
    twilio_channel()
    partner = make_user("partner")
    subscription_add(actor=partner, customer=passenger, topic=TOPIC)
    staff = Client()
    staff.force_login(agent)
    url = f"/console/customers/{passenger.public_id}/"
    assert "No notifications yet" in staff.get(url).content.decode()
    with clock.frozen_at(MORNING.replace(hour=12)):
        _send(partner, "ops-360-0", {"flight": "AC123", "new_time": "10:00"})
    with CaptureQueriesContext(connection) as one:
        staff.get(url)
    with clock.frozen_at(MORNING.replace(hour=12)):
        for n in range(1, 3):
            _send(partner, f"ops-360-{n}", {"flight": "AC123", "new_time": f"1{n}:00"})
    with CaptureQueriesContext(connection) as three:
        page = staff.get(url).content.decode()

    assert page.count('data-channel="phone"') == 3
    assert "phone: Queued" in page
    assert "Flight delayed by SMS / phone: Your flight AC123 is delayed to 12:00." in page
    assert len(three) == len(one)
