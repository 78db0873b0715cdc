"""Channels over the admin API: credentials checked by the adapter, write-only secrets."""

from pocketdesk.messaging.models import Channel

TWILIO = {
    "kind": "twilio_sms",
    "name": "Support line",
    "address": "(415) 555-0177",
    "credentials": {"account_sid": "AC" + "5" * 32, "auth_token": "a-secret-token"},
}


def test_an_admin_adds_lists_and_switches_off_a_channel(api_as, admin_user):
    api = api_as(admin_user)
    created = api.post("/channels", TWILIO)
    assert created.status_code == 201
    body = created.json()
    assert body["address"] == "+14155550177"
    assert "credentials" not in body
    assert "a-secret-token" not in created.content.decode()

    listed = api.get("/channels")
    assert [c["id"] for c in listed.json()] == [body["id"]]
    assert "a-secret-token" not in listed.content.decode()

    off = api.patch(f"/channels/{body['id']}", {"is_active": False, "name": "Old line"})
    assert off.status_code == 200
    assert (off.json()["is_active"], off.json()["name"]) == (False, "Old line")
    assert Channel.objects.get().credentials["auth_token"] == "a-secret-token"


def test_bad_channels_are_refused_with_a_reason(api_as, admin_user):
    api = api_as(admin_user)
    no_secret = {**TWILIO, "credentials": {"account_sid": "AC" + "5" * 32}}
    assert api.post("/channels", no_secret).status_code == 422
    unknown = api.post("/channels", {**TWILIO, "kind": "carrier_pigeon"})
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "validation_error"
    assert api.post("/channels", TWILIO).status_code == 201
    duplicate = api.post("/channels", TWILIO)
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "channel_exists")
    assert api.patch("/channels/chn_nope", {"name": "x"}).status_code == 404
    assert Channel.objects.count() == 1


def test_only_admins_see_channels(api_as, agent, make_customer):
    assert api_as(agent).get("/channels").status_code == 403
    customer = make_customer()
    assert api_as(customer.user).get("/channels").status_code == 403
