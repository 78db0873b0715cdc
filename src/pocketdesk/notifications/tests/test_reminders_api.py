"""Reminders over the API: a customer's own under /me, staff for a customer; every bad input is a
422 with a code, never a 500."""

from datetime import UTC, datetime

import pytest

from pocketdesk.core import clock
from pocketdesk.notifications.models import Reminder

BASE = "/notifications/me/reminders"
JAN_5 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
OIL = {
    "title": "Oil change",
    "rrule": "RRULE:FREQ=MONTHLY;INTERVAL=6",
    "starts_at": "2026-01-10T09:00:00",
    "meter_every": 8000,
    "meter_unit": "km",
    "meter_reading": 42000,
    "payload": {"product": "the Volvo"},
}


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen_at(JAN_5):
        yield


@pytest.fixture
def ada(make_customer):
    return make_customer(name="Ada", time_zone="America/New_York")


def test_a_customer_adds_lists_changes_and_removes_a_reminder(ada, api_as):
    api = api_as(ada.user)

    # when
    created = api.post(BASE, OIL)

    # then: 09:00 New York time is 14:00 UTC in January
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["rrule"] == "FREQ=MONTHLY;INTERVAL=6"
    assert body["next_run_at"] == "2026-01-10T14:00:00Z"
    assert body["next_run_local"] == "2026-01-10T09:00:00-05:00"
    assert (body["time_zone"], body["customer"]) == ("America/New_York", ada.public_id)
    assert (body["meter_base"], body["meter_remaining"]) == (42000, 8000)
    assert [r["id"] for r in api.get(BASE).json()] == [body["id"]]

    reading = api.post(f"{BASE}/{body['id']}/readings", {"value": 47000})
    assert reading.status_code == 200
    assert reading.json()["meter_remaining"] == 3000
    lower = api.post(f"{BASE}/{body['id']}/readings", {"value": 46000})
    assert lower.status_code == 422
    assert lower.json()["code"] == "reading_decreased"
    due = api.post(f"{BASE}/{body['id']}/readings", {"value": 50000})
    assert due.json()["next_run_at"] == "2026-01-05T12:00:00Z"

    changed = api.patch(f"{BASE}/{body['id']}", {"title": "Oil + filter", "rrule": None})
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["title"], changed.json()["rrule"]) == ("Oil + filter", "")
    paused = api.patch(f"{BASE}/{body['id']}", {"is_active": False})
    assert paused.json()["is_active"] is False

    assert api.delete(f"{BASE}/{body['id']}").status_code == 204
    assert api.get(BASE).json() == []


def test_a_customer_never_sees_or_touches_another_customers_reminders(ada, make_customer, api_as):
    bob = make_customer(name="Bob")
    mine = api_as(ada.user).post(BASE, OIL).json()["id"]
    bob_api = api_as(bob.user)
    assert bob_api.get(BASE).json() == []
    assert bob_api.patch(f"{BASE}/{mine}", {"title": "x"}).status_code == 404
    assert bob_api.delete(f"{BASE}/{mine}").status_code == 404
    assert bob_api.post(f"{BASE}/{mine}/readings", {"value": 1}).status_code == 404
    assert (
        bob_api.post(f"/notifications/customers/{ada.public_id}/reminders", OIL).status_code == 403
    )
    assert Reminder.objects.get().title == "Oil change"


def test_staff_set_up_a_reminder_for_a_customer(ada, agent, api_as):
    api = api_as(agent)
    made = api.post(
        f"/notifications/customers/{ada.public_id}/reminders",
        {"title": "Boiler service", "rrule": "FREQ=YEARLY"},
    )
    assert made.status_code == 201, made.json()
    listed = api.get(f"/notifications/customers/{ada.public_id}/reminders").json()
    assert [r["title"] for r in listed] == ["Boiler service"]
    assert [r["title"] for r in api_as(ada.user).get(BASE).json()] == ["Boiler service"]
    missing = api.post("/notifications/customers/cus_nope/reminders", OIL)
    assert missing.status_code == 404
    # staff have no /me reminders
    assert api.get(BASE).status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"title": "Oil"}, "schedule_required"),
        ({"title": "Oil", "rrule": "every six months"}, "invalid_rrule"),
        ({"title": "Oil", "rrule": "FREQ=MINUTELY"}, "invalid_rrule"),
        ({"title": "Oil", "rrule": "FREQ=DAILY;INTERVAL=0"}, "invalid_rrule"),
        ({"title": "Oil", "meter_every": -8000, "meter_unit": "km"}, "invalid_meter_value"),
        (
            {"title": "Oil", "meter_every": 8000, "meter_unit": "km", "meter_reading": -3},
            "invalid_meter_value",
        ),
        ({"title": "Oil", "meter_every": 2**40, "meter_unit": "km"}, "invalid_meter_value"),
        ({"title": "Oil", "meter_every": 8000}, "invalid_meter_unit"),
        ({"title": "Oil", "rrule": "FREQ=YEARLY", "event_type": "nope"}, "unknown_event_type"),
        ({"title": "", "rrule": "FREQ=YEARLY"}, "invalid_title"),
        (
            {"title": "Oil", "rrule": "FREQ=YEARLY", "starts_at": "3026-01-01T00:00:00Z"},
            "invalid_starts_at",
        ),
        # wrong JSON types: the schema refuses them
        ({"title": "Oil", "meter_every": "8000", "meter_unit": "km"}, "validation_error"),
        ({"title": "Oil", "meter_every": 80.5, "meter_unit": "km"}, "validation_error"),
        ({"title": "Oil", "meter_every": True, "meter_unit": "km"}, "validation_error"),
        ({"title": 5, "rrule": "FREQ=YEARLY"}, "validation_error"),
        ({"title": "Oil", "rrule": ["FREQ=YEARLY"]}, "validation_error"),
        ({"title": "Oil", "rrule": "FREQ=YEARLY", "payload": []}, "validation_error"),
        ({"title": "Oil", "rrule": "FREQ=YEARLY", "starts_at": "soon"}, "validation_error"),
        ({"rrule": "FREQ=YEARLY"}, "validation_error"),
        ([], "validation_error"),
    ],
)
def test_bad_input_is_a_422_with_a_code(ada, api_as, body, code):
    response = api_as(ada.user).post(BASE, body)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Reminder.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"value": -1}, "invalid_meter_value"),
        ({"value": "12"}, "validation_error"),
        ({"value": None}, "validation_error"),
        ({}, "validation_error"),
        ({"value": 50000, "at": "2027-01-01T00:00:00Z"}, "invalid_reading_time"),
    ],
)
def test_bad_readings_are_a_422_with_a_code(ada, api_as, body, code):
    api = api_as(ada.user)
    made = api.post(BASE, OIL).json()["id"]
    response = api.post(f"{BASE}/{made}/readings", body)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"rrule": "", "meter_every": None}, "schedule_required"),
        ({"title": None}, "invalid_title"),
        ({"is_active": None}, "invalid_is_active"),
        ({"is_active": "yes"}, "validation_error"),
        ({"meter_unit": ""}, "invalid_meter_unit"),
        ({"event_type": None}, "unknown_event_type"),
        ({"rrule": "FREQ=SECONDLY"}, "invalid_rrule"),
    ],
)
def test_bad_changes_are_a_422_and_change_nothing(ada, api_as, body, code):
    api = api_as(ada.user)
    made = api.post(BASE, OIL).json()
    response = api.patch(f"{BASE}/{made['id']}", body)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    assert api.get(BASE).json() == [made]


def test_a_body_that_is_not_json_is_refused_without_a_500(ada, api_as):
    api = api_as(ada.user)
    response = api.client.post(
        "/api/v1" + BASE,
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.secret}",
    )
    assert 400 <= response.status_code < 500
    assert response.json()["code"]
