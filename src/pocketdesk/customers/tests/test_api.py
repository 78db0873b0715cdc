"""Customers over HTTP: self-service under /me, staff search, profiles, timeline and merge."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pocketdesk.catalog.services import product_create, unit_create, unit_register
from pocketdesk.core import clock
from pocketdesk.core.models import AuditEvent
from pocketdesk.customers.models import ContactPoint, Customer, TimelineEntry
from pocketdesk.customers.services import customer_create, customer_merge, timeline_record

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def _error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"code", "detail"}
    if code is not None:
        assert body["code"] == code, body
    return body


# --- my profile -----------------------------------------------------------------------------


def test_customer_reads_own_profile(make_customer, api_as):
    # given
    customer = make_customer(phone="+44 20 7946 0958")
    api = api_as(customer.user)
    # when
    response = api.get("/me")
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == customer.public_id
    assert {p["value"] for p in body["contact_points"]} == {"+442079460958", customer.user.email}


def test_contact_point_added_over_the_api_is_normalised(make_customer, api_as, settings):
    settings.PD_DEFAULT_REGION = "US"
    customer = make_customer()
    api = api_as(customer.user)
    response = api.post("/me/contact-points", {"kind": "phone", "value": "(201) 555-0123"})
    assert response.status_code == 201, response.content
    point = response.json()
    assert point["id"].startswith("cp_")
    assert (point["kind"], point["value"], point["verified"]) == ("phone", "+12015550123", False)
    listed = api.get("/me/contact-points").json()
    assert "+12015550123" in {p["value"] for p in listed}


def test_someone_elses_number_is_a_409(make_customer, api_as):
    make_customer(phone="+12015550123")
    thief = make_customer(name="Thief")
    response = api_as(thief.user).post(
        "/me/contact-points", {"kind": "phone", "value": "201.555.0123"}
    )
    _error(response, 409, "contact_point_taken")
    assert not thief.contact_points.filter(kind="phone").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "phone", "value": "12345"}, "value"),
        ({"kind": "email", "value": "ada@@example"}, "value"),
        ({"kind": "fax", "value": "+12015550123"}, "kind"),
        ({"kind": "phone", "value": ""}, "value"),
        ({"kind": "phone"}, "value"),
    ],
)
def test_malformed_contact_points_are_422_with_field_errors(make_customer, api_as, payload, field):
    customer = make_customer()
    points, entries = ContactPoint.objects.count(), TimelineEntry.objects.count()
    body = _error(api_as(customer.user).post("/me/contact-points", payload), 422)
    assert [e["field"] for e in body["errors"]] == [field]
    assert ContactPoint.objects.count() == points
    assert TimelineEntry.objects.count() == entries


def test_preferences_update_over_the_api(make_customer, agent, api_as):
    # given
    customer = make_customer(language="en", time_zone="Europe/London")
    api = api_as(customer.user)
    # when
    response = api.patch(
        "/me/preferences",
        {
            "language": "fr",
            "time_zone": "America/Chicago",
            "channel_ranking": ["email", "phone"],
            "send_windows": [{"weekday": 0, "starts_at": "09:00", "ends_at": "18:30"}],
        },
    )
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["language"], body["time_zone"]) == ("fr", "America/Chicago")
    assert body["channel_ranking"] == ["email", "phone"]
    assert body["send_windows"] == [{"weekday": 0, "starts_at": "09:00:00", "ends_at": "18:30:00"}]
    # and staff see the change on the timeline
    timeline = api_as(agent).get(f"/customers/{customer.public_id}/timeline").json()["results"]
    change = next(e for e in timeline if e["kind"] == "preferences.changed")
    assert change["data"]["language"] == "fr"
    assert change["source"] == "customers"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"language": "tlh"}, "language"),
        ({"channel_ranking": ["email", "telegraph"]}, "channel_ranking"),
        (
            {"send_windows": [{"weekday": 1, "starts_at": "18:00", "ends_at": "08:00"}]},
            "send_windows.0",
        ),
        (
            {"send_windows": [{"weekday": 8, "starts_at": "08:00", "ends_at": "18:00"}]},
            "send_windows.0.weekday",
        ),
    ],
)
def test_bad_preferences_are_422_and_change_nothing(make_customer, api_as, payload, field):
    customer = make_customer(language="en", time_zone="Europe/London")
    api = api_as(customer.user)
    body = _error(api.patch("/me/preferences", {"language": "fr", **payload}), 422)
    assert [e["field"] for e in body["errors"]] == [field]
    customer.refresh_from_db()
    assert (customer.language, customer.time_zone) == ("en", "Europe/London")
    assert not TimelineEntry.objects.filter(kind="preferences.changed").exists()


def test_consents_over_the_api(make_customer, api_as):
    # given
    customer = make_customer()
    api = api_as(customer.user)
    # when
    with clock.frozen_at(T0):
        granted = api.put("/me/consents", {"purpose": "marketing", "granted": True})
    with clock.frozen_at(T0 + timedelta(hours=1)):
        withdrawn = api.put("/me/consents", {"purpose": "marketing", "granted": False})
    # then
    assert granted.json() == {
        "purpose": "marketing",
        "granted": True,
        "changed_at": "2030-03-04T09:00:00Z",
        "source": "api",
    }
    assert withdrawn.json()["granted"] is False
    assert withdrawn.json()["changed_at"] == "2030-03-04T10:00:00Z"
    assert api.get("/me/consents").json() == [withdrawn.json()]
    assert TimelineEntry.objects.filter(customer=customer, kind="consent.changed").count() == 2
    _error(api.put("/me/consents", {"purpose": "telepathy", "granted": True}), 422)


def test_removing_my_contact_point(make_customer, api_as):
    customer = make_customer(phone="+12015550123")
    api = api_as(customer.user)
    point = customer.contact_points.get(kind="phone")
    assert api.delete(f"/me/contact-points/{point.public_id}").status_code == 204
    assert not ContactPoint.objects.filter(pk=point.pk).exists()


# --- verification ---------------------------------------------------------------------------


def _emailed_code(mailoutbox):
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def test_verification_by_emailed_code_over_the_api(
    make_customer, api_as, mailoutbox, django_capture_on_commit_callbacks
):
    # given
    customer = make_customer(email="ada@example.com")
    api = api_as(customer.user)
    point = customer.contact_points.get(kind="email")
    url = f"/me/contact-points/{point.public_id}"
    # when a code is asked for
    with clock.frozen_at(T0), django_capture_on_commit_callbacks(execute=True):
        started = api.post(f"{url}/verification")
    # then it is emailed
    assert started.status_code == 202, started.content
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    code = _emailed_code(mailoutbox)
    wrong = "000000" if code != "000000" else "111111"
    # a second request at once is throttled, and sends nothing
    with (
        clock.frozen_at(T0 + timedelta(seconds=10)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        _error(api.post(f"{url}/verification"), 429, "rate_limited")
    assert len(mailoutbox) == 1
    # a wrong code is refused
    with clock.frozen_at(T0 + timedelta(seconds=20)):
        _error(api.post(f"{url}/verify", {"code": wrong}), 422, "code_wrong")
        verified = api.post(f"{url}/verify", {"code": code})
    # the right one verifies
    assert verified.status_code == 200, verified.content
    assert verified.json()["verified"] is True
    assert api.get("/me").json()["contact_points"][0]["verified"] is True


def test_five_wrong_codes_over_the_api_exhaust_the_code(
    make_customer, api_as, mailoutbox, django_capture_on_commit_callbacks
):
    customer = make_customer()
    api = api_as(customer.user)
    url = f"/me/contact-points/{customer.contact_points.get().public_id}"
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"{url}/verification")
    code = _emailed_code(mailoutbox)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        _error(api.post(f"{url}/verify", {"code": wrong}), 422, "code_wrong")
    _error(api.post(f"{url}/verify", {"code": code}), 422, "code_expired")


# --- scoped reads ---------------------------------------------------------------------------


def test_a_customer_cannot_read_another_customer(make_customer, api_as):
    # given
    ada, bob = make_customer(), make_customer(name="Bob")
    api = api_as(ada.user)
    # when
    other = api.get(f"/customers/{bob.public_id}")
    missing = api.get("/customers/cus_01jzzzzzzzzzzzzzzzzzzzzzzz")
    # then both look the same: no hint that bob exists
    _error(other, 404, "not_found")
    assert other.content == missing.content
    # but ada reads herself
    assert api.get(f"/customers/{ada.public_id}").json()["id"] == ada.public_id


def test_a_customer_cannot_touch_another_customers_contact_points(
    make_customer, api_as, mailoutbox, django_capture_on_commit_callbacks
):
    ada, bob = make_customer(), make_customer(name="Bob", phone="+12015550123")
    api = api_as(ada.user)
    for point in bob.contact_points.all():
        url = f"/me/contact-points/{point.public_id}"
        with django_capture_on_commit_callbacks(execute=True):
            _error(api.post(f"{url}/verification"), 404, "not_found")
        _error(api.post(f"{url}/verify", {"code": "123456"}), 404, "not_found")
        _error(api.delete(url), 404, "not_found")
    assert bob.contact_points.count() == 2
    assert mailoutbox == []


# --- staff search ---------------------------------------------------------------------------


@pytest.fixture
def directory(make_customer):
    return {
        "ada": make_customer(name="Ada Lovelace", phone="+12015550123", email="ada@example.com"),
        "grace": make_customer(name="Grace Hopper", phone="+442079460958"),
        "alan": make_customer(name="Alan Turing", email="alan@example.org"),
    }


def _search(api, q, **params):
    response = api.get("/customers", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("(201) 555-0123", "ada"),
        ("201.555.0123", "ada"),
        ("+1 201 555 0123", "ada"),
        ("+44 20 7946 0958", "grace"),
        ("011 44 20 7946 0958", "grace"),
        ("ADA@Example.com", "ada"),
        (" alan@example.org ", "alan"),
        ("lovelace", "ada"),
        ("HOPPER", "grace"),
        ("Alan Tur", "alan"),
    ],
)
def test_staff_find_customers(directory, agent, api_as, settings, query, who):
    settings.PD_DEFAULT_REGION = "US"
    assert _search(api_as(agent), query) == [directory[who].public_id]


def test_staff_find_a_customer_by_public_id_in_any_case(directory, agent, api_as):
    api = api_as(agent)
    grace = directory["grace"].public_id
    assert _search(api, grace) == [grace]
    assert _search(api, grace.upper()) == [grace]


def test_search_finds_nothing_for_unknowns(directory, agent, api_as):
    api = api_as(agent)
    assert _search(api, "+1 202 555 0199") == []
    assert _search(api, "nobody@example.com") == []
    assert _search(api, "cus_01jzzzzzzzzzzzzzzzzzzzzzzz") == []


def test_search_leaves_out_merged_customers(directory, agent, api_as):
    customer_merge(actor=agent, source=directory["alan"], target=directory["ada"])
    api = api_as(agent)
    assert _search(api, "alan@example.org") == [directory["ada"].public_id]
    assert _search(api, "Turing") == []


def test_search_pages_with_a_cursor(make_customer, agent, api_as):
    # given
    made = {make_customer(name=f"Page {n}").public_id for n in range(5)}
    api = api_as(agent)
    # when the pages are followed
    seen, sizes = [], []
    url, params = "/customers", {"q": "Page", "page_size": 2}
    while url:
        body = api.get(url, params).json()
        sizes.append(len(body["results"]))
        seen += [c["id"] for c in body["results"]]
        if body["next"] is None:
            break
        parts = urlsplit(body["next"])
        url, params = parts.path.removeprefix("/api/v1"), dict(parse_qsl(parts.query))
    # then every customer came once, newest first
    assert sizes == [2, 2, 1]
    assert seen == sorted(made, reverse=True)


def test_search_page_size_is_capped(make_customer, agent, api_as):
    for n in range(3):
        make_customer(name=f"Cap {n}")
    body = api_as(agent).get("/customers", {"q": "Cap", "page_size": 0}).json()
    assert len(body["results"]) == 1
    assert body["next"] is not None


def test_search_runs_a_fixed_number_of_queries(make_customer, agent, api_as):
    # given one matching customer, then many
    api = api_as(agent)
    api.get("/customers")  # warm up: token last-used stamp, content types
    make_customer(name="Query Baseline 0")

    def count(query):
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/customers", {"q": query})
        assert response.status_code == 200
        return len(queries), len(response.json()["results"])

    few = count("Query Baseline")
    for n in range(1, 25):
        make_customer(name=f"Query Baseline {n}")
    many = count("Query Baseline")
    # then the count is small and does not grow with the results
    assert few[1] == 1
    assert many[1] == 25
    assert many[0] == few[0]
    assert many[0] <= 2  # token lookup, then the page


def test_staff_create_and_read_a_customer(agent, api_as):
    api = api_as(agent)
    created = api.post(
        "/customers",
        {
            "name": "Lin",
            "email": "LIN@example.com",
            "phone": "(201) 555-0100",
            "time_zone": "Asia/Tokyo",
        },
    )
    assert created.status_code == 201, created.content
    body = api.get(f"/customers/{created.json()['id']}").json()
    assert body["time_zone"] == "Asia/Tokyo"
    assert {p["value"] for p in body["contact_points"]} == {"lin@example.com", "+12015550100"}


def test_staff_read_the_timeline_newest_first_by_when_it_happened(make_customer, agent, api_as):
    # given entries recorded in order, one of them about something that happened earlier
    customer = make_customer()
    for n in range(3):
        with clock.frozen_at(T0 + timedelta(minutes=n)):
            timeline_record(customer=customer, kind=f"note.{n}", summary="n", source="test")
    timeline_record(
        customer=customer,
        kind="sms.received",
        summary="late",
        source="test",
        at=T0 + timedelta(seconds=30),
    )
    url = f"/customers/{customer.public_id}/timeline"
    # when
    results = api_as(agent).get(url, {"page_size": 10}).json()["results"]
    # then
    assert [e["kind"] for e in results][:4] == ["note.2", "note.1", "sms.received", "note.0"]


def test_timeline_pages_cover_every_entry_once_even_at_the_same_instant(
    make_customer, agent, api_as
):
    customer = make_customer()
    with clock.frozen_at(T0):
        for n in range(5):
            timeline_record(customer=customer, kind=f"burst.{n}", summary="n", source="test")
    api = api_as(agent)
    seen, url, params = [], f"/customers/{customer.public_id}/timeline", {"page_size": 2}
    while True:
        body = api.get(url, params).json()
        seen += [e["id"] for e in body["results"]]
        if body["next"] is None:
            break
        parts = urlsplit(body["next"])
        url, params = parts.path.removeprefix("/api/v1"), dict(parse_qsl(parts.query))
    assert len(seen) == len(set(seen)) == TimelineEntry.objects.filter(customer=customer).count()


# --- merge ----------------------------------------------------------------------------------


def test_merge_over_the_api(make_customer, admin_user, agent, api_as):
    # given a lead with a registered product, and the real customer
    target = make_customer(name="Ada")
    source = customer_create(actor=agent, name="", phone="+12015550123", is_lead=True)
    product = product_create(actor=admin_user, gtin="4006381333931", name="Kettle")
    unit_create(actor=admin_user, product=product, serial="K-1")
    unit_register(actor=admin_user, customer=source, gtin="4006381333931", serial="K-1")
    api = api_as(agent)
    url = f"/customers/{target.public_id}/merge"
    # when
    first = api.post(url, {"source": source.public_id})
    second = api.post(url, {"source": source.public_id})
    # then
    assert first.status_code == 200, first.content
    assert "+12015550123" in {p["value"] for p in first.json()["contact_points"]}
    assert second.json() == first.json()
    assert AuditEvent.objects.filter(action="customer.merged").count() == 1
    assert api_as(target.user).get("/me/registrations").json()[0]["unit"]["serial"] == "K-1"
    assert Customer.objects.get(pk=source.pk).merged_into_id == target.pk
    _error(api.post(url, {"source": target.public_id}), 422)
    _error(api.post(url, {"source": "cus_01jzzzzzzzzzzzzzzzzzzzzzzz"}), 404, "not_found")
