"""Staff API for links: create, bad input, retarget, stats, QR images."""

import io

import pytest
import zxingcpp
from django.test import Client, override_settings
from PIL import Image

from pocketdesk.links.models import Link
from pocketdesk.links.visits import visit_recorder

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


def _created(api, **body):
    response = api.post("/links", {"target_url": "https://example.com/setup", **body})
    assert response.status_code == 201, response.content
    return response.json()


def test_create_read_retarget(agent, api_as, settings):
    api = api_as(agent)
    link = _created(api, title="Setup guide", code="r3-setup")
    assert link["short_url"] == f"{settings.PD_PUBLIC_URL}/q/r3-setup"
    assert api.get("/links/r3-setup").json()["target_url"] == "https://example.com/setup"
    response = api.patch("/links/r3-setup", {"target_url": "https://example.com/setup/v2"})
    assert response.status_code == 200
    assert response.json()["target_url"] == "https://example.com/setup/v2"
    assert Client().get("/q/r3-setup")["Location"] == "https://example.com/setup/v2"


def test_generated_codes_are_short_and_unambiguous(agent, api_as):
    codes = {_created(api_as(agent))["code"] for _ in range(5)}
    assert len(codes) == 5
    assert all(len(c) == 7 and not set(c) & set("0O1lI") for c in codes)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"target_url": "javascript:alert(1)"}, "invalid_target", "target_url"),
        ({"target_url": "ftp://example.com/x"}, "invalid_target", "target_url"),
        ({"target_url": "/relative"}, "invalid_target", "target_url"),
        ({"target_url": "https://example.com", "code": "a b"}, "invalid_code", "code"),
        (
            {
                "target_url": "https://example.com",
                "rules": [{"target_url": "https://x.example", "conditions": []}],
            },
            "validation_error",
            "rules[0].conditions",
        ),
        (
            {
                "target_url": "https://example.com",
                "rules": [
                    {
                        "target_url": "https://x.example",
                        "conditions": [{"type": "device", "value": "fridge"}],
                    }
                ],
            },
            "validation_error",
            "rules[0].conditions",
        ),
        (
            {
                "target_url": "https://example.com",
                "rules": [
                    {
                        "target_url": "javascript:x",
                        "conditions": [{"type": "device", "value": "ios"}],
                    }
                ],
            },
            "invalid_target",
            "rules[0].target_url",
        ),
        (
            {
                "target_url": "https://example.com",
                "valid_from": "2026-12-02T00:00:00Z",
                "valid_until": "2026-12-01T00:00:00Z",
            },
            "validation_error",
            "valid_until",
        ),
        ({"target_url": "https://example.com", "max_visits": 0}, "validation_error", "max_visits"),
    ],
)
def test_bad_input_is_422_and_writes_nothing(agent, api_as, body, code, field):
    response = api_as(agent).post("/links", body)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    assert response.json()["errors"][0]["field"] == field
    assert not Link.objects.exists()


def test_taken_code_is_409(agent, api_as):
    api = api_as(agent)
    _created(api, code="promo")
    response = api.post("/links", {"target_url": "https://example.com/2", "code": "promo"})
    assert response.status_code == 409
    assert response.json()["code"] == "code_taken"


@override_settings(PD_LINK_DOMAINS=["example.com"])
def test_target_domain_allow_list(agent, api_as):
    api = api_as(agent)
    assert api.post("/links", {"target_url": "https://help.example.com/a"}).status_code == 201
    refused = api.post("/links", {"target_url": "https://evil.example.net/a"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "target_not_allowed"


def test_only_staff_manage_links(make_customer, agent, api_as):
    customer = make_customer()
    _created(api_as(agent), code="staff-only")
    api = api_as(customer.user)
    assert api.post("/links", {"target_url": "https://example.com"}).status_code == 403
    assert api.patch("/links/staff-only", {"target_url": "https://evil.example"}).status_code == 403
    assert Link.objects.get(code="staff-only").target_url == "https://example.com/setup"


def test_unknown_link_is_404(agent, api_as):
    response = api_as(agent).get("/links/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_stats_count_humans_by_day_device_and_language(agent, api_as):
    api = api_as(agent)
    _created(api, code="counted")
    for _ in range(3):
        Client().get("/q/counted", HTTP_USER_AGENT=IPHONE, HTTP_ACCEPT_LANGUAGE="fr")
    Client().get("/q/counted", HTTP_USER_AGENT="curl/8.5.0")
    visit_recorder.flush()
    stats = api.get("/links/counted/stats", {"days": 7}).json()
    assert stats["total"] == 3
    assert stats["bots"] == 1
    assert len(stats["days"]) == 7
    assert stats["days"][-1]["visits"] == 3
    assert stats["devices"] == [{"value": "ios", "visits": 3}]
    assert stats["languages"] == [{"value": "fr", "visits": 3}]


def test_qr_png_decodes_to_the_short_url(agent, api_as, settings):
    api = api_as(agent)
    _created(api, code="qr-me")
    response = api.get("/links/qr-me/qr", {"format": "png", "ec": "H", "scale": 6})
    assert response["Content-Type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)))
    assert [d.text for d in decoded] == [f"{settings.PD_PUBLIC_URL}/q/qr-me"]
    assert api.get("/links/qr-me/qr", {"format": "png", "ec": "X"}).status_code == 422
