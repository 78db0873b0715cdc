"""The customer's reminders page: their reminders with the next run in their own time zone and
language, a form with presets, readings, removal; works without JavaScript."""

import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from pocketdesk.core import clock
from pocketdesk.notifications.models import Reminder
from pocketdesk.notifications.services.reminders import reminder_create

PAGE = "/app/reminders/"
JAN_5 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen_at(JAN_5):
        yield


@pytest.fixture
def yuki(make_customer):
    return make_customer(name="Yuki", language="fr", time_zone="Asia/Tokyo")


def _client(customer) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer.user)
    return client


def _post(client: Client, path: str, data: dict):
    client.get(PAGE)
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_a_customer_adds_a_six_monthly_reminder_and_sees_it_on_their_clock(yuki):
    client = _client(yuki)

    # when: "every 6 months", first on 10 July at 09:00 (Tokyo), and every 8,000 km
    response = _post(
        client,
        PAGE,
        {
            "title": "<b>Vidange</b>",
            "every": "6m",
            "first_on": "2026-07-10",
            "at": "09:00",
            "meter_every": "8000",
            "meter_unit": "km",
            "meter_reading": "42000",
        },
    )

    # then
    assert response.status_code == 302
    reminder = Reminder.objects.get(customer=yuki)
    assert reminder.rrule == "FREQ=MONTHLY;INTERVAL=6"
    assert reminder.next_run_at == datetime(2026, 7, 10, 0, 0, tzinfo=UTC)
    page = client.get(PAGE)
    html = page.content.decode()
    assert page.status_code == 200
    # French, Tokyo time: 09:00 there is midnight UTC
    assert "10 juillet 2026 09:00" in html
    assert 'datetime="2026-07-10T09:00:00+09:00"' in html
    assert "&lt;b&gt;Vidange&lt;/b&gt;" in html
    assert "<b>Vidange</b>" not in html
    assert re.search(r"8\D?000 km", html)
    # no inline script: every script tag loads a file
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))


def test_without_a_date_the_first_reminder_is_one_period_away(yuki):
    response = _post(_client(yuki), PAGE, {"title": "Filtre", "every": "1y", "at": "08:30"})
    assert response.status_code == 302
    # 5 January in Tokyo → 5 January 2027 08:30 Tokyo
    assert Reminder.objects.get().next_run_at == datetime(2027, 1, 4, 23, 30, tzinfo=UTC)


def test_a_form_without_schedule_or_meter_is_shown_again_with_the_error(yuki):
    response = _post(_client(yuki), PAGE, {"title": "Rien", "every": "", "at": "09:00"})
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert not Reminder.objects.exists()


def test_a_reading_is_reported_and_a_lower_one_refused(yuki):
    reminder = reminder_create(
        actor=yuki.user,
        customer=yuki,
        title="Pneus",
        meter_every=100,
        meter_unit="h",
        meter_reading=1000,
    )
    client = _client(yuki)
    path = f"/app/reminders/{reminder.public_id}/reading/"

    assert _post(client, path, {"value": "1050"}).status_code == 302
    lower = _post(client, path, {"value": "900"})
    assert lower.status_code == 422
    assert "1,050 h" in lower.content.decode()
    assert _post(client, path, {"value": "-4"}).status_code == 422
    reminder.refresh_from_db()
    assert reminder.meter_reading == 1050


def test_a_customer_cannot_touch_another_customers_reminder(yuki, make_customer, agent):
    reminder = reminder_create(actor=yuki.user, customer=yuki, title="Pneus", rrule="FREQ=YEARLY")
    other = _client(make_customer(name="Other"))
    assert _post(other, f"/app/reminders/{reminder.public_id}/delete/", {}).status_code == 404
    assert (
        _post(other, f"/app/reminders/{reminder.public_id}/reading/", {"value": "1"}).status_code
        == 404
    )
    assert "Pneus" not in other.get(PAGE).content.decode()
    staff = Client()
    staff.force_login(agent)
    assert staff.get(PAGE).status_code == 403
    assert Reminder.objects.filter(pk=reminder.pk).exists()
    assert (
        _post(_client(yuki), f"/app/reminders/{reminder.public_id}/delete/", {}).status_code == 302
    )
    assert not Reminder.objects.exists()
