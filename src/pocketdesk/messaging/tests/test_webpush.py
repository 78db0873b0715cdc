"""Web push: a customer's browsers subscribe through the API; replies go out through the outbox,
VAPID-signed and encrypted, to a fake push service that checks the JWT, decrypts the body as the
phone would, and answers as real push services do (410 gone, 429 busy, 403 wrong key)."""

import base64
import json
import secrets
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.management import call_command
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from pocketdesk.conversations.services.messages import message_receive, message_send
from pocketdesk.core import clock
from pocketdesk.customers.models import ContactPoint, TimelineEntry
from pocketdesk.customers.services import contact_point_add
from pocketdesk.messaging import services
from pocketdesk.messaging.adapters import webpush as webpush_adapter
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.handlers import InboundMessage
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.vapid import vapid_keys_generate

API = "/me/push-subscriptions"
PHONE_UA = "Mozilla/5.0 (Linux; Android 15; Pixel 9) Chrome/140.0 Mobile Safari/537.36"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def fake():
    with FakeProviders() as running:
        yield running


@pytest.fixture
def channel(db):
    return services.channel_create(
        actor=None, kind="webpush", name="Push", address="", credentials={}
    )


@pytest.fixture
def customer(make_customer):
    return make_customer(name="Grace Hopper")


def _subscribe(api_as, customer, fake, settings, *, script=""):
    """What push.js does: subscribe with our VAPID key, then POST the subscription."""
    browser = fake.push_subscribe(
        script=script, application_server_key=settings.PD_VAPID_PUBLIC_KEY
    )
    response = api_as(customer.user).post(API, browser.as_json(), **{"User-Agent": PHONE_UA})
    assert response.status_code == 201, response.json()
    return browser, ContactPoint.objects.get(public_id=response.json()["id"])


def _queue(channel, point, text="Your repair is ready.", **extra):
    return services.outbound_queue(
        channel=channel, recipient=point.value, text=text, extra=extra, contact_point=point
    )


def _unsubscribe(api, endpoint):
    return api._call("delete", API, {"endpoint": endpoint})


def _attempt(outbound):
    sent, _ = services.outbound_attempt(outbound_id=outbound.pk)
    return sent


# --- subscribing --------------------------------------------------------------------------


def test_each_device_subscribes_once_and_the_browser_posts_the_standard_json(
    api_as, customer, fake, settings
):
    api = api_as(customer.user)
    phone, phone_point = _subscribe(api_as, customer, fake, settings)
    laptop = fake.push_subscribe()
    assert api.post(API, laptop.as_json()).status_code == 201
    # The page posts its subscription on every load: the same endpoint stays one row.
    again = api.post(API, phone.as_json(), **{"User-Agent": PHONE_UA})
    assert again.status_code == 201
    assert again.json()["id"] == phone_point.public_id

    listed = api.get("/me/contact-points").json()
    assert sorted(p["value"] for p in listed if p["kind"] == "webpush") == sorted(
        [phone.endpoint, laptop.endpoint]
    )
    phone_point.refresh_from_db()
    assert phone_point.data == {"p256dh": phone.p256dh, "auth": phone.auth, "user_agent": PHONE_UA}
    assert phone_point.verified
    added = TimelineEntry.objects.filter(customer=customer, kind="push_subscription.added")
    assert added.count() == 2
    assert phone.endpoint not in " ".join(added.values_list("summary", flat=True))


def _bad(fake, **change):
    body = fake.push_subscribe().as_json()
    body["keys"].update(change.pop("keys", {}))
    body.update(change)
    return body


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"endpoint": "http://push.example.com/abc"}, "push_endpoint_invalid", "endpoint"),
        ({"endpoint": "ftp://push.example.com/abc"}, "push_endpoint_invalid", "endpoint"),
        ({"endpoint": "https://"}, "push_endpoint_invalid", "endpoint"),
        (
            {"endpoint": "https://push.example.com/" + "a" * 500},
            "push_endpoint_invalid",
            "endpoint",
        ),
        ({"keys": {"p256dh": _b64(b"\x04" + b"\x01" * 64)}}, "push_key_invalid", "keys.p256dh"),
        ({"keys": {"p256dh": _b64(b"\x04" * 33)}}, "push_key_invalid", "keys.p256dh"),
        ({"keys": {"p256dh": "not base64!"}}, "push_key_invalid", "keys.p256dh"),
        ({"keys": {"auth": _b64(b"x" * 12)}}, "push_key_invalid", "keys.auth"),
        ({"keys": {"auth": "%%%"}}, "push_key_invalid", "keys.auth"),
    ],
)
def test_a_bad_subscription_gets_422_with_a_code(api_as, customer, fake, change, code, field):
    response = api_as(customer.user).post(API, _bad(fake, **change))
    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["errors"][0]["field"]) == (code, field)
    assert not ContactPoint.objects.filter(kind="webpush").exists()


def test_a_subscription_without_keys_is_refused(api_as, customer, fake):
    body = fake.push_subscribe().as_json()
    del body["keys"]
    response = api_as(customer.user).post(API, body)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


def test_https_endpoints_and_loopback_http_are_taken(api_as, customer, fake):
    api = api_as(customer.user)
    browser = fake.push_subscribe().as_json()
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/dXk1:APA91b",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "http://localhost:8090/push/abc",
    ):
        assert api.post(API, {**browser, "endpoint": endpoint}).status_code == 201
    assert ContactPoint.objects.filter(customer=customer, kind="webpush").count() == 3


def test_unsubscribing_removes_only_your_own(api_as, customer, make_customer, fake, settings):
    browser, point = _subscribe(api_as, customer, fake, settings)
    other = make_customer(name="Someone Else")
    assert _unsubscribe(api_as(other.user), browser.endpoint).status_code == 404
    assert ContactPoint.objects.filter(pk=point.pk).exists()

    response = _unsubscribe(api_as(customer.user), browser.endpoint)
    assert response.status_code == 204
    assert not ContactPoint.objects.filter(pk=point.pk).exists()
    assert TimelineEntry.objects.get(customer=customer, kind="push_subscription.removed").data == {
        "contact_point": point.public_id,
        "reason": "unsubscribed",
    }


def test_a_shared_device_notifies_whoever_signed_in_last(api_as, customer, make_customer, fake):
    browser = fake.push_subscribe().as_json()
    assert api_as(customer.user).post(API, browser).status_code == 201
    partner = make_customer(name="Partner")
    assert api_as(partner.user).post(API, browser).status_code == 201
    point = ContactPoint.objects.get(kind="webpush", value=browser["endpoint"])
    assert point.customer_id == partner.pk
    assert TimelineEntry.objects.filter(
        customer=customer, kind="push_subscription.removed", data__reason="moved"
    ).exists()


def test_the_vapid_key_is_served_to_customers_only(api_as, customer, agent, settings):
    response = api_as(customer.user).get(API + "/key")
    assert response.json() == {"public_key": settings.PD_VAPID_PUBLIC_KEY}
    assert len(base64.urlsafe_b64decode(settings.PD_VAPID_PUBLIC_KEY + "=")) == 65
    assert api_as(agent).get(API + "/key").status_code == 403


def test_without_keys_there_is_no_web_push(api_as, customer, fake, settings, capsys):
    settings.PD_VAPID_PRIVATE_KEY = settings.PD_VAPID_PUBLIC_KEY = ""
    api = api_as(customer.user)
    response = api.get(API + "/key")
    assert (response.status_code, response.json()["code"]) == (404, "push_unavailable")
    assert api.post(API, fake.push_subscribe().as_json()).json()["code"] == "push_unavailable"
    with pytest.raises(SystemExit) as exited:
        call_command("channels", "add", "webpush", "--name", "Push")
    assert exited.value.code == 2
    assert "push_unavailable" in capsys.readouterr().err


def test_the_channel_is_switched_on_from_the_command_line(db, capsys):
    call_command("channels", "add", "webpush", "--name", "Push")
    added = json.loads(capsys.readouterr().out)
    call_command("channels", "list")
    listed = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["kind"], listed["address"]) == (added["id"], "webpush", "webpush")


# --- sending ------------------------------------------------------------------------------------


def test_a_push_reaches_the_device_signed_and_encrypted(api_as, customer, fake, channel, settings):
    # given a phone that subscribed with our VAPID key
    browser, point = _subscribe(api_as, customer, fake, settings)
    long_text = "Your laptop is repaired and waiting at the Rue de Rivoli store. " * 8

    # when the outbox sends a notification to it
    outbound = _attempt(_queue(channel, point, long_text, url="/app/conversations/cnv_42/"))

    # then the device decrypted exactly what the service worker shows
    (delivery,) = fake.push.deliveries
    assert delivery["payload"] == {
        "title": settings.PD_SITE_NAME,
        "body": long_text.strip()[:239].rstrip() + "…",
        "url": "/app/conversations/cnv_42/",
        "tag": outbound.public_id,
    }
    assert len(delivery["payload"]["body"]) <= 240
    # and the push service accepted the VAPID JWT: ES256 by our key, for its origin
    assert delivery["vapid_ok"]
    assert delivery["vapid_key"] == settings.PD_VAPID_PUBLIC_KEY
    assert delivery["claims"]["aud"] == fake.base_url
    assert delivery["claims"]["sub"] == settings.PD_VAPID_SUBJECT
    assert 0 < delivery["claims"]["exp"] - clock.now().timestamp() <= 24 * 3600
    assert (delivery["ttl"], delivery["urgency"]) == (24 * 3600, "normal")
    assert delivery["endpoint"] == browser.endpoint
    assert outbound.status == Outbound.Status.SENT
    assert outbound.provider_id == f"{fake.base_url}/push/message/{delivery['message_id']}"


@pytest.mark.django_db(transaction=True)
def test_an_agent_reply_is_pushed_through_the_worker(
    api_as, customer, fake, channel, agent, settings
):
    _, point = _subscribe(api_as, customer, fake, settings)
    sms = services.channel_create(
        actor=None,
        kind="twilio_sms",
        name="SMS",
        address="+14155550142",
        credentials={"account_sid": "AC" + "4" * 32, "auth_token": "t"},
    )
    phone = contact_point_add(actor=None, customer=customer, kind="phone", value="+447911123999")
    question = message_receive(
        InboundMessage(
            channel_id=sms.pk,
            customer_id=customer.pk,
            contact_point_id=phone.pk,
            text="Is my order shipped?",
            provider_id="SM" + secrets.token_hex(16),
            received_at=clock.now(),
        )
    )

    reply = message_send(
        actor=agent,
        conversation=question.conversation,
        text="Yes, it left this morning.",
        channel=channel,
        contact_point=point,
    )
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)

    assert fake.push.shown() == [
        {
            "title": settings.PD_SITE_NAME,
            "body": "Yes, it left this morning.",
            "url": "/app/conversations/",
            "tag": reply.outbound.public_id,
        }
    ]
    assert Outbound.objects.get(pk=reply.outbound_id).status == Outbound.Status.SENT


@pytest.mark.parametrize(("script", "status"), [("gone", 410), ("missing", 404)])
def test_a_forgotten_subscription_is_retired_and_the_push_fails(
    api_as, customer, fake, channel, settings, script, status
):
    _, point = _subscribe(api_as, customer, fake, settings, script=script)

    outbound = _attempt(_queue(channel, point))

    assert (outbound.status, outbound.error_code) == (Outbound.Status.FAILED, "push_gone")
    assert outbound.attempts == 1
    assert not ContactPoint.objects.filter(pk=point.pk).exists()
    retired = TimelineEntry.objects.get(customer=customer, kind="push_subscription.removed")
    assert retired.data["reason"] == "gone"
    assert [(d["status"], d["vapid_ok"]) for d in fake.push.deliveries] == [(status, True)]


def test_a_busy_push_service_means_try_again_later(api_as, customer, fake, channel, settings):
    _, point = _subscribe(api_as, customer, fake, settings, script="busy")

    outbound = _attempt(_queue(channel, point))

    assert (outbound.status, outbound.error_code) == (Outbound.Status.QUEUED, "push_429")
    assert timedelta(seconds=20) < outbound.next_attempt_at - clock.now() < timedelta(seconds=40)
    assert ContactPoint.objects.filter(pk=point.pk).exists()
    assert services.outbound_due() == []  # not before its time


def test_an_unreachable_push_service_is_retried(api_as, customer, fake, channel, settings):
    _, point = _subscribe(api_as, customer, fake, settings)
    fake.stop()

    outbound = _attempt(_queue(channel, point))

    assert (outbound.status, outbound.error_code) == (
        Outbound.Status.QUEUED,
        "provider_unreachable",
    )


def test_a_loopback_push_service_is_reached_past_a_proxy(
    api_as, customer, fake, channel, settings, monkeypatch
):
    _, point = _subscribe(api_as, customer, fake, settings)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    outbound = _attempt(_queue(channel, point))

    assert outbound.status == Outbound.Status.SENT
    assert len(fake.push.shown()) == 1


def test_a_subscription_made_for_another_key_is_refused_for_good(api_as, customer, fake, channel):
    browser = fake.push_subscribe(application_server_key=vapid_keys_generate().public_key)
    assert api_as(customer.user).post(API, browser.as_json()).status_code == 201
    point = ContactPoint.objects.get(value=browser.endpoint)

    outbound = _attempt(_queue(channel, point))

    assert (outbound.status, outbound.error_code) == (Outbound.Status.FAILED, "push_403")
    assert ContactPoint.objects.filter(pk=point.pk).exists()


def test_a_removed_subscription_is_not_pushed(api_as, customer, fake, channel, settings):
    browser, point = _subscribe(api_as, customer, fake, settings)
    outbound = _queue(channel, point)
    _unsubscribe(api_as(customer.user), browser.endpoint)

    outbound = _attempt(outbound)

    assert (outbound.status, outbound.error_code) == (Outbound.Status.FAILED, "push_gone")
    assert fake.push.deliveries == []


def test_after_a_crash_the_push_is_sent_again_under_the_same_tag(
    api_as, customer, fake, channel, settings
):
    _, point = _subscribe(api_as, customer, fake, settings)
    outbound = _queue(channel, point)
    # A worker pushed, then died before recording the answer.
    webpush_adapter.ADAPTER.send(channel, outbound)
    started = clock.now()
    Outbound.objects.filter(pk=outbound.pk).update(
        status=Outbound.Status.SENDING, attempt_started_at=started, attempts=1
    )

    with clock.frozen_at(started + timedelta(seconds=settings.PD_SEND_TIMEOUT_SECONDS + 1)):
        outbound = _attempt(outbound)

    assert outbound.status == Outbound.Status.SENT
    tags = [payload["tag"] for payload in fake.push.shown()]
    # The push service cannot be asked, so the phone gets it twice: the second replaces the first.
    assert tags == [outbound.public_id, outbound.public_id]


# --- the fake push service checks what real ones check -----------------------------------------


def _push(browser, *, key=None, claims=None, **kwargs):
    return webpush(
        subscription_info={
            "endpoint": browser.endpoint,
            "keys": {"p256dh": browser.p256dh, "auth": browser.auth},
        },
        data=json.dumps({"body": "hi"}),
        vapid_private_key=key or Vapid.from_string(vapid_keys_generate().private_key),
        vapid_claims=claims or {"sub": "mailto:ops@example.com"},
        ttl=60,
        **kwargs,
    )


def test_the_fake_push_service_refuses_bad_vapid_tokens(fake):
    browser = fake.push_subscribe()
    assert _push(browser).status_code == 201
    for claims in (
        {"sub": "mailto:ops@example.com", "aud": "https://elsewhere.example"},
        {"sub": "mailto:ops@example.com", "exp": int(clock.now().timestamp()) + 30 * 3600},
    ):
        with pytest.raises(WebPushException) as error:
            _push(browser, claims=claims)
        assert error.value.status_code == 401
    # A genuine token presented with another key than the one that signed it.
    signer = Vapid.from_string(vapid_keys_generate().private_key)
    signed = signer.sign({"sub": "mailto:ops@example.com", "aud": fake.base_url})
    token = signed["Authorization"].removeprefix("vapid t=").split(",")[0]
    assert _raw_post(browser, f"vapid t={token},k={vapid_keys_generate().public_key}") == 401
    assert _raw_post(browser, "WebPush " + token) == 401
    assert [d["vapid_ok"] for d in fake.push.deliveries] == [True, False, False, False, False]
    assert fake.push.shown() == [{"body": "hi"}]


def _raw_post(browser, authorization):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(  # noqa: S310 - the loopback fake
        browser.endpoint, data=b"", headers={"Authorization": authorization, "TTL": "60"}
    )
    try:
        with opener.open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/push/abc",
        "https://localhost/push/abc",
        "http://127.0.0.1:8090/push/abc",
    ],
)
def test_production_refuses_push_endpoints_on_private_addresses(settings, endpoint):
    from pocketdesk.core.errors import ValidationFailed
    from pocketdesk.customers.services import push_endpoint_check

    settings.PD_MODE = "production"
    with pytest.raises(ValidationFailed) as error:
        push_endpoint_check(endpoint)
    assert error.value.code == "push_endpoint_invalid"
    assert push_endpoint_check("https://fcm.googleapis.com/fcm/send/abc") == (
        "https://fcm.googleapis.com/fcm/send/abc"
    )
