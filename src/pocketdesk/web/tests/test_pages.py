"""Pages through Django's test client: roles, settings form, console search, 360, PWA files."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pocketdesk.customers.models import Consent, SendWindow
from pocketdesk.customers.services import consent_set, preferences_update, timeline_record

PASSWORD = "pw-Secret-123"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_login_page_follows_accept_language():
    response = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert response.status_code == 200
    assert "Se connecter" in response.content.decode()
    assert '<html lang="fr">' in response.content.decode()


@pytest.mark.django_db
def test_anonymous_home_redirects_to_login():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_each_role_lands_on_its_layout(make_customer, agent, make_user):
    customer = make_customer()
    assert _client(customer.user).get("/").status_code == 200
    assert _client(agent).get("/")["Location"] == "/console/"
    assert _client(make_user("employee")).get("/")["Location"] == "/field/"
    assert _client(make_user("employee")).get("/field/").status_code == 200


def test_customer_cannot_open_console_or_360(make_customer):
    customer = make_customer()
    client = _client(customer.user)
    assert client.get("/console/").status_code == 403
    assert client.get(f"/console/customers/{customer.public_id}/").status_code == 403


def test_settings_saves_language_quiet_hours_and_consent(make_customer):
    customer = make_customer()
    client = _client(customer.user)
    response = client.post(
        "/settings/",
        {
            "language": "fr",
            "time_zone": "Europe/Paris",
            "quiet_from": "22:00",
            "quiet_until": "07:30",
            "alerts": "on",
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.language, customer.time_zone) == ("fr", "Europe/Paris")
    windows = list(SendWindow.objects.filter(customer=customer))
    assert len(windows) == 7
    assert {
        (w.starts_at.isoformat("minutes"), w.ends_at.isoformat("minutes")) for w in windows
    } == {("07:30", "22:00")}
    assert Consent.objects.get(customer=customer, purpose="alerts").granted is True
    assert Consent.objects.get(customer=customer, purpose="marketing").granted is False
    page = client.get("/settings/").content.decode()
    assert "Paramètres" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"quiet_from": "12:00", "quiet_until": "14:00"}, "must include midnight"),
        ({"quiet_from": "22:00"}, "both ends"),
    ],
)
def test_settings_rejects_bad_input_and_changes_nothing(make_customer, data, message):
    customer = make_customer(time_zone="Europe/London")
    client = _client(customer.user)
    form = {"language": "en", "time_zone": "Europe/London", **data}
    response = client.post("/settings/", form)
    assert response.status_code == 422
    assert message in response.content.decode()
    customer.refresh_from_db()
    assert customer.time_zone == "Europe/London"
    assert not SendWindow.objects.filter(customer=customer).exists()


def test_console_search_finds_phone_typed_differently(make_customer, agent):
    customer = make_customer(name="Noor Haddad", phone="+1 212 736 0147")
    client = _client(agent)
    page = client.get("/console/", {"q": "(212) 736-0147"}, HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    body = page.content.decode()
    assert body.lstrip().startswith('<div id="search-results">')  # the partial only
    assert f"/console/customers/{customer.public_id}/" in body


def test_console_escapes_customer_text(make_customer, agent):
    make_customer(name="<script>alert(1)</script>")
    body = _client(agent).get("/console/", {"q": "script"}).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def _rich_customer(make_customer, index: int):
    customer = make_customer(name=f"Rich {index}", phone=f"+3361234{index:04d}")
    preferences_update(actor=None, customer=customer, channel_ranking=["email", "phone"])
    consent_set(actor=None, customer=customer, purpose="alerts", granted=True, source="web")
    for n in range(5):
        timeline_record(customer=customer, kind="note", summary=f"note {n}", source="tests")
    return customer


def test_360_page_shows_everything_in_constant_queries(make_customer, agent):
    client = _client(agent)
    small = make_customer(name="Small")
    big = _rich_customer(make_customer, 1)
    for n in range(20):
        timeline_record(customer=big, kind="note", summary=f"more {n}", source="tests")
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/console/customers/{small.public_id}/").status_code == 200
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/console/customers/{big.public_id}/")
    body = response.content.decode()
    assert "+33612340001" in body
    assert "more 19" in body
    assert "email › phone" in body
    assert len(many) == len(few)
    # 9 for the page, 2 for the notifications panel (notifications, their deliveries)
    assert len(many) <= 11, [q["sql"] for q in many.captured_queries]


def test_360_unknown_customer_is_404(agent):
    assert _client(agent).get("/console/customers/cus_nope/").status_code == 404


def test_console_search_queries_do_not_grow_with_results(make_customer, agent):
    client = _client(agent)
    for n in range(3):
        make_customer(name=f"Dana {n}")
    with CaptureQueriesContext(connection) as three:
        client.get("/console/", {"q": "Dana"})
    for n in range(3, 15):
        make_customer(name=f"Dana {n}")
    with CaptureQueriesContext(connection) as fifteen:
        body = client.get("/console/", {"q": "Dana"}).content.decode()
    assert body.count("/console/customers/cus_") == 15
    assert len(three) == len(fifteen) <= 5


@pytest.mark.django_db
def test_pwa_files():
    client = Client()
    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    assert manifest.json()["display"] == "standalone"
    sw = client.get("/sw.js")
    assert sw["Content-Type"].startswith("text/javascript")
    assert "/offline/" in sw.content.decode()
    assert client.get("/offline/").status_code == 200


@pytest.mark.django_db
def test_pages_send_a_content_security_policy():
    response = Client().get("/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_healthz():
    assert Client().get("/healthz").json() == {"ok": True}


def test_login_ignores_email_case_and_throttles_across_cases(make_user):
    # given a user whose email is stored lower-case
    make_user("customer", email="ada@example.com", password=PASSWORD)
    # when they type it capitalised, as phone keyboards do, it works
    response = Client().post("/login/", {"username": "Ada@Example.com", "password": PASSWORD})
    assert response.status_code == 302
    # and failures in different cases add up to one lock-out
    client = Client()
    for n, typed in enumerate(
        [
            "ada@example.com",
            "ADA@example.com",
            "Ada@example.com",
            "aDa@example.com",
            "adA@example.com",
        ]
    ):
        status = client.post("/login/", {"username": typed, "password": "wrong"}).status_code
        assert status == (429 if n == 4 else 200)
    assert (
        client.post("/login/", {"username": "ada@example.com", "password": PASSWORD}).status_code
        == 429
    )
