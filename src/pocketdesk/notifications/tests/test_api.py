"""The notifications API over HTTP: events in (201, 200 on replay), 422 with codes for bad input,
subscriptions by staff/partners and by the signed-in customer, and the customer's bell."""

import pytest

from pocketdesk.customers.services import consent_set
from pocketdesk.notifications.models import Event, Subscription
from pocketdesk.notifications.services.engine import notifications_due_send
from pocketdesk.notifications.services.fanout import event_fan_out

pytestmark = pytest.mark.django_db

DELAY = {"flight": "AC123", "new_time": "18:40"}


@pytest.fixture
def partner_api(make_user, api_as):
    return api_as(make_user("partner"))


@pytest.fixture
def ada(make_customer):
    customer = make_customer(name="Ada")
    consent_set(actor=None, customer=customer, purpose="alerts", granted=True, source="web")
    return customer


def _event_body(subject, source_id="ops-1", type_="flight.delayed"):
    return {"type": type_, "source_id": source_id, "subject": subject, "payload": DELAY}


def test_an_event_is_created_once_and_a_replay_answers_200(partner_api, ada):
    body = _event_body({"customer": ada.public_id})
    first = partner_api.post("/notifications/events", body)
    replay = partner_api.post("/notifications/events", {**body, "payload": {"flight": "X"}})

    assert first.status_code == 201, first.content
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["payload"] == DELAY
    assert Event.objects.count() == 1

    event_fan_out(event_id=Event.objects.get().pk)
    detail = partner_api.get(f"/notifications/events/{first.json()['id']}")
    assert detail.status_code == 200
    assert detail.json()["recipients"] == 1
    assert detail.json()["counts"]["scheduled"] == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_event_body({"topic": "flight:AC1"}, type_="flight.teleported"), "unknown_event_type"),
        (_event_body({"topic": "flight AC1"}), "invalid_topic"),
        (_event_body({"segment": "vip"}), "unknown_segment"),
        (_event_body({"customer": 42}), "invalid_subject"),
        (_event_body({"customer": "cus_nobody"}), "unknown_customer"),
        (_event_body("flight:AC1"), "validation_error"),
        ({"type": "flight.delayed", "subject": {"topic": "a"}}, "validation_error"),
        (_event_body({"topic": "a"}, source_id=""), "validation_error"),
    ],
)
def test_bad_events_answer_422_with_a_code(partner_api, body, code):
    response = partner_api.post("/notifications/events", body)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Event.objects.exists()


def test_customers_may_not_send_events_nor_read_them(api_as, ada, partner_api, make_user):
    as_ada = api_as(ada.user)
    response = as_ada.post("/notifications/events", _event_body({"customer": ada.public_id}))
    assert response.status_code == 403
    created = partner_api.post("/notifications/events", _event_body({"customer": ada.public_id}))
    other_partner = api_as(make_user("partner"))
    assert other_partner.get(f"/notifications/events/{created.json()['id']}").status_code == 404


def test_staff_and_partners_subscribe_customers_to_topics(partner_api, ada):
    created = partner_api.post(
        "/notifications/subscriptions", {"customer": ada.public_id, "topic": "order:55123"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["topic"] == "order:55123"
    bad = partner_api.post(
        "/notifications/subscriptions", {"customer": ada.public_id, "topic": "order 55123"}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_topic")
    missing = partner_api.post(
        "/notifications/subscriptions", {"customer": "cus_nobody", "topic": "order:1"}
    )
    assert missing.status_code == 404

    removed = partner_api.delete(
        f"/notifications/subscriptions?customer={ada.public_id}&topic=order:55123"
    )
    assert removed.status_code == 204
    assert not Subscription.objects.exists()


def test_a_customer_follows_a_topic_and_reads_the_bell(api_as, partner_api, ada, make_customer):
    as_ada = api_as(ada.user)
    followed = as_ada.post("/notifications/me/subscriptions", {"topic": "flight:AC123:2026-11-23"})
    assert followed.status_code == 201, followed.content
    staff_only = as_ada.post(
        "/notifications/subscriptions", {"customer": ada.public_id, "topic": "x"}
    )
    assert staff_only.status_code == 403
    # e-mail only and no e-mail channel: the event reaches the bell.
    posted = partner_api.post(
        "/notifications/events", _event_body({"topic": "flight:AC123:2026-11-23"})
    )
    event_fan_out(event_id=Event.objects.get(public_id=posted.json()["id"]).pk)
    notifications_due_send()

    bell = as_ada.get("/notifications/me")
    assert bell.status_code == 200
    (item,) = bell.json()
    assert item["text"] == "Your flight AC123 is delayed to 18:40."
    assert (item["channel"], item["status"], item["read_at"]) == ("in_app", "sent", None)

    bob = api_as(make_customer(name="Bob").user)
    assert bob.get("/notifications/me").json() == []
    assert bob.post(f"/notifications/me/{item['id']}/read").status_code == 404
    read = as_ada.post(f"/notifications/me/{item['id']}/read")
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert as_ada.get("/notifications/me").json()[0]["read_at"] == read.json()["read_at"]

    left = as_ada.delete("/notifications/me/subscriptions?topic=flight:AC123:2026-11-23")
    assert left.status_code == 204
    assert not Subscription.objects.exists()


def test_events_are_also_accepted_at_the_short_path(partner_api, ada):
    body = _event_body({"customer": ada.public_id}, source_id="short-1")
    created = partner_api.post("/events", body)
    replay = partner_api.post("/notifications/events", body)
    unknown = partner_api.post("/events", {**body, "source_id": "short-2", "type": "nope.never"})

    assert created.status_code == 201, created.content
    assert replay.status_code == 200
    assert replay.json()["id"] == created.json()["id"]
    assert partner_api.get(f"/events/{created.json()['id']}").json()["type"] == "flight.delayed"
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_event_type"
