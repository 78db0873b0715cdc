"""Staff console pages for links."""

import json

from django.test import Client

from pocketdesk.links.models import Link
from pocketdesk.links.services import link_create
from pocketdesk.links.visits import visit_recorder


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_create_a_link_from_the_console(agent):
    client = _client(agent)
    response = client.post(
        "/console/links/",
        {
            "target_url": "https://example.com/setup",
            "code": "leaflet",
            "title": "Leaflet",
            "rules": json.dumps(
                [
                    {
                        "target_url": "https://example.com/ios",
                        "conditions": [{"type": "device", "value": "ios"}],
                    }
                ]
            ),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/links/leaflet/"
    link = Link.objects.get(code="leaflet")
    assert link.rules.get().target_url == "https://example.com/ios"


def test_console_shows_errors_and_keeps_nothing(agent):
    response = _client(agent).post(
        "/console/links/", {"target_url": "javascript:alert(1)", "rules": "[]"}
    )
    assert response.status_code == 422
    assert "absolute http(s) URL" in response.content.decode()
    assert not Link.objects.exists()
    response = _client(agent).post(
        "/console/links/", {"target_url": "https://example.com", "rules": "{nope"}
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.content.decode()


def test_link_page_shows_stats_chart_and_retargets(agent):
    link_create(actor=agent, target_url="https://example.com/a", code="page", title="<b>Box</b>")
    for _ in range(2):
        Client().get("/q/page", HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) Mobile")
    visit_recorder.flush()
    client = _client(agent)
    body = client.get("/console/links/page/").content.decode()
    assert '<strong data-stat="total">2</strong>' in body
    assert body.count("<rect ") == 30
    assert "&lt;b&gt;Box&lt;/b&gt;" in body
    assert "android 2" in body
    response = client.post(
        "/console/links/page/",
        {"target_url": "https://example.com/b", "code": "ignored", "rules": "[]"},
    )
    assert response.status_code == 302
    assert Client().get("/q/page")["Location"] == "https://example.com/b"
    assert Link.objects.filter(code="page").exists()


def test_console_qr_download(agent):
    link_create(actor=agent, target_url="https://example.com/a", code="svgme")
    response = _client(agent).get("/console/links/svgme/qr.svg?download=1")
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Disposition"] == 'attachment; filename="svgme.svg"'
    assert response.content.lstrip().startswith(b"<?xml") or b"<svg" in response.content[:200]


def test_customers_cannot_open_link_pages(make_customer, agent):
    link_create(actor=agent, target_url="https://example.com/a", code="private")
    client = _client(make_customer().user)
    assert client.get("/console/links/").status_code == 403
    assert client.get("/console/links/private/").status_code == 403
