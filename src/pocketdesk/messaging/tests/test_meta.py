"""WhatsApp, Messenger and Instagram through Meta's signed webhooks and the Graph API, against
the local fake Meta (FakeProviders) and our app over real HTTP or Django's test Client."""

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import Consent, ContactPoint
from pocketdesk.customers.services import consent_set, contact_point_add
from pocketdesk.messaging.adapters import SendError, adapter_for, meta
from pocketdesk.messaging.fake_providers import (
    FakeProviders,
    meta_json,
    meta_signature,
    whatsapp_message_id,
)
from pocketdesk.messaging.fake_providers.wire import numeric_id
from pocketdesk.messaging.models import Channel, InboundEvent, Outbound
from pocketdesk.messaging.services import (
    channel_create,
    inbound_events_process,
    outbound_attempt,
    outbound_queue,
)

PATH = "/webhooks/meta"
PHONE_NUMBER_ID = "106540352242922"
OTHER_PHONE_NUMBER_ID = "106540352240000"
PAGE_ID = "112233445566778"
IG_ID = "17841400000000001"
APP_SECRET = "meta-app-secret-for-tests"
OTHER_SECRET = "another-apps-secret"
VERIFY_TOKEN = "verify-me-please"
ACCESS_TOKEN = "EAAG-test-access-token"
CUSTOMER = "+447911123456"
WA_ID = CUSTOMER.lstrip("+")


def _channel(kind: str, address: str, *, secret: str = APP_SECRET, api_base: str = "") -> Channel:
    return channel_create(
        actor=None,
        kind=kind,
        name=f"{kind} line",
        address=address,
        credentials={
            "app_secret": secret,
            "verify_token": VERIFY_TOKEN,
            "access_token": ACCESS_TOKEN,
        },
        api_base=api_base,
    )


@pytest.fixture
def whatsapp(db: Any) -> Channel:
    return _channel("whatsapp", PHONE_NUMBER_ID)


@pytest.fixture
def fake(live_server: Any) -> Iterator[FakeProviders]:
    with FakeProviders(
        meta_tokens={ACCESS_TOKEN},
        meta_app_secret=APP_SECRET,
        meta_webhook_url=live_server.url + PATH,
        status_delay=0.01,
        retry_delays=(0.05,),
    ) as fake:
        yield fake


@pytest.fixture
def wa_live(fake: FakeProviders, transactional_db: Any) -> Channel:
    """A WhatsApp channel whose Graph API is the fake, which posts receipts to our live app."""
    return _channel("whatsapp", PHONE_NUMBER_ID, api_base=fake.base_url)


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _post(payload: Any, *, secret: str | None = APP_SECRET, body: bytes | None = None) -> Any:
    raw = meta_json(payload) if body is None else body
    headers = {}
    if secret is not None:
        headers["X-Hub-Signature-256"] = meta_signature(meta_json(payload), secret)
    return Client().post(PATH, raw, content_type="application/json", headers=headers)


def _wa_envelope(value: dict[str, Any], phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def _wa_text(
    text: str, *, wamid: str | None = None, phone_number_id: str = PHONE_NUMBER_ID
) -> dict[str, Any]:
    message = {
        "from": WA_ID,
        "id": wamid or whatsapp_message_id(WA_ID),
        "timestamp": "1750000000",
        "type": "text",
        "text": {"body": text},
    }
    return _wa_envelope(
        {"contacts": [{"profile": {"name": "Zoë"}, "wa_id": WA_ID}], "messages": [message]},
        phone_number_id,
    )


def _wa_status(wamid: str, status: str, **extra: Any) -> dict[str, Any]:
    entry = {"id": wamid, "status": status, "timestamp": "1750000001", "recipient_id": WA_ID}
    return _wa_envelope({"statuses": [{**entry, **extra}]})


def _messenger(obj: str, page_id: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": page_id, "time": 1, "messaging": list(events)}]}


# Subscription handshake


def test_the_handshake_echoes_the_challenge_for_a_known_verify_token(whatsapp):
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "8512"}
    response = Client().get(PATH, query)
    assert (response.status_code, response.content) == (200, b"8512")
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "8512"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "8512"},
        {"hub.mode": "subscribe", "hub.challenge": "8512"},
    ],
)
def test_the_handshake_refuses_a_wrong_token_or_mode(whatsapp, query):
    response = Client().get(PATH, query)
    assert response.status_code == 403
    assert b"8512" not in response.content


def test_a_switched_off_channels_token_no_longer_verifies(whatsapp):
    Channel.objects.filter(pk=whatsapp.pk).update(is_active=False)
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}
    assert Client().get(PATH, query).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_fakes_handshake_over_http(fake, wa_live, live_server):
    assert fake.meta_subscribe(live_server.url + PATH, VERIFY_TOKEN) is True
    assert fake.meta_subscribe(live_server.url + PATH, "not-ours") is False


# Signatures: nothing is stored unless the named channel's secret signed the exact bytes


def test_unsigned_webhook_is_refused(whatsapp):
    assert _post(_wa_text("hi"), secret=None).status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    ("payload", "secret"),
    [
        pytest.param(_wa_text("hi"), "forged-secret", id="forged"),
        pytest.param(_wa_text("hi"), OTHER_SECRET, id="another-channels-secret"),
        pytest.param(_wa_text("hi", phone_number_id="999999999"), APP_SECRET, id="unknown-id"),
        pytest.param({"object": "user", "entry": []}, APP_SECRET, id="unknown-object"),
        pytest.param(_messenger("page", PAGE_ID), APP_SECRET, id="unknown-page"),
    ],
)
def test_forged_or_foreign_webhooks_are_refused_and_nothing_is_stored(whatsapp, payload, secret):
    _channel("whatsapp", OTHER_PHONE_NUMBER_ID, secret=OTHER_SECRET)
    response = _post(payload, secret=secret)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_the_signature_covers_the_raw_bytes(whatsapp):
    payload = _wa_text("original")
    tampered = meta_json(payload).replace(b"original", b"tampered")
    assert _post(payload, body=tampered).status_code == 403
    # The same JSON serialised differently (not Meta's escaping) is not what was signed either.
    reserialised = json.dumps(payload, ensure_ascii=False).encode()
    assert _post(payload, body=reserialised).status_code == 403
    sha1_only = Client().post(
        PATH, meta_json(payload), content_type="application/json", headers={"X-Hub-Signature": "x"}
    )
    assert sha1_only.status_code == 403
    not_hex = Client().post(
        PATH,
        meta_json(payload),
        content_type="application/json",
        headers={"X-Hub-Signature-256": "sha256=éé"},
    )
    assert not_hex.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_signed_body_that_is_not_json_is_refused(whatsapp):
    body = b"{not json"
    headers = {"X-Hub-Signature-256": meta_signature(body, APP_SECRET)}
    response = Client().post(PATH, body, content_type="application/json", headers=headers)
    assert response.status_code == 403


# Storing: one event per message and per receipt, a replay stored once


def test_a_batch_is_split_into_one_event_per_message_and_receipt(whatsapp):
    first, second, ours = (whatsapp_message_id(WA_ID) for _ in range(3))
    value = _wa_text("one", wamid=first)["entry"][0]["changes"][0]["value"]
    value["messages"].append({**value["messages"][0], "id": second, "text": {"body": "two"}})
    value["statuses"] = [
        {"id": ours, "status": "delivered", "timestamp": "1", "recipient_id": WA_ID}
    ]
    response = _post(_wa_envelope(value))
    assert response.status_code == 200
    events = {(e.kind, e.provider_event_id): e for e in InboundEvent.objects.all()}
    assert set(events) == {
        ("message", first),
        ("message", second),
        ("status", f"{ours}:delivered"),
    }
    assert events[("message", second)].payload["message"]["text"] == {"body": "two"}
    assert events[("message", second)].payload["contacts"][0]["profile"]["name"] == "Zoë"
    assert events[("status", f"{ours}:delivered")].payload["status"]["status"] == "delivered"


@pytest.mark.django_db(transaction=True)
def test_a_replayed_webhook_is_stored_and_threaded_once(whatsapp):
    payload = _wa_text("Hello?")
    assert _post(payload).status_code == 200
    assert _post(payload).status_code == 200
    _work()
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


# Inbound WhatsApp through the fake, over real HTTP


@pytest.mark.django_db(transaction=True)
def test_inbound_text_image_location_and_replies_share_one_thread(fake, wa_live, live_server):
    url = live_server.url + PATH

    def send(body: str = "", message: dict[str, Any] | None = None) -> None:
        status = fake.send_inbound_whatsapp(
            url,
            CUSTOMER,
            body,
            phone_number_id=PHONE_NUMBER_ID,
            profile_name="Zoë Martin",
            message=message,
        )
        assert status == 200

    send("Où est mon colis? 📦 https://t.co/x")
    image = {"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc", "caption": ""}
    send(message={"type": "image", "image": image})
    location = {"latitude": 51.5, "longitude": -0.12, "name": "Home", "address": "1 Main St"}
    send(message={"type": "location", "location": location})
    button = {"type": "button_reply", "button_reply": {"id": "slot-2", "title": "Tomorrow"}}
    send(message={"type": "interactive", "interactive": button})
    listed = {
        "type": "list_reply",
        "list_reply": {"id": "r-9", "title": "Repair", "description": ""},
    }
    send(message={"type": "interactive", "interactive": listed})
    send(message={"type": "button", "button": {"payload": "yes-1", "text": "Yes please"}})
    _work()

    point = ContactPoint.objects.get(kind="whatsapp", value=CUSTOMER)
    assert point.customer.name == "Zoë Martin"
    conversation = Conversation.objects.get()
    assert conversation.customer_id == point.customer_id
    assert conversation.last_channel_id == wa_live.pk
    rows = list(conversation.messages.order_by("created_at", "id"))
    assert [(m.kind, m.text) for m in rows] == [
        ("text", "Où est mon colis? 📦 https://t.co/x"),
        ("image", ""),
        ("location", "Home"),
        ("interactive", "Tomorrow"),
        ("interactive", "Repair"),
        ("interactive", "Yes please"),
    ]
    assert rows[1].media[0]["id"] == "1479537139650973"
    assert rows[1].media[0]["content_type"] == "image/jpeg"
    assert rows[2].data == {"lat": 51.5, "long": -0.12, "name": "Home", "address": "1 Main St"}
    assert rows[3].data == {"id": "slot-2", "title": "Tomorrow"}
    assert rows[4].data["id"] == "r-9"
    assert rows[5].data == {"id": "yes-1", "title": "Yes please"}
    assert all(m.provider_id.startswith("wamid.") for m in rows)
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {"processed"}


@pytest.mark.django_db(transaction=True)
def test_whatsapp_stop_withdraws_consent(whatsapp, make_customer):
    customer = make_customer()
    contact_point_add(actor=None, customer=customer, kind="whatsapp", value=CUSTOMER)
    for purpose in ("transactional", "alerts", "marketing"):
        consent_set(actor=None, customer=customer, purpose=purpose, granted=True, source="web")
    _post(_wa_text("STOP"))
    _work()
    assert not Consent.objects.filter(customer=customer, granted=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_quoted_reply_joins_the_thread_of_the_message_it_quotes(whatsapp):
    first = whatsapp_message_id(WA_ID)
    _post(_wa_text("my order is late", wamid=first))
    _work()
    old = Conversation.objects.get()
    Conversation.objects.filter(pk=old.pk).update(status="resolved")
    _post(_wa_text("something new"))
    _work()
    quoted = _wa_text("about that order…")
    quoted["entry"][0]["changes"][0]["value"]["messages"][0]["context"] = {
        "from": "15550783881",
        "id": first,
    }
    _post(quoted)
    _work()
    assert Message.objects.get(text="about that order…").conversation_id == old.pk


# Messenger and Instagram


@pytest.mark.django_db(transaction=True)
def test_messenger_text_quick_reply_and_postback(db):
    _channel("messenger", PAGE_ID)
    psid = "6543210987654321"
    sender = {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": 1750000000000}
    events = [
        {**sender, "message": {"mid": "m_1", "text": "hello"}},
        {**sender, "message": {"mid": "m_2", "text": "Red", "quick_reply": {"payload": "RED"}}},
        {**sender, "postback": {"mid": "m_3", "title": "Track order", "payload": "TRACK"}},
        {**sender, "message": {"mid": "m_4", "text": "echo", "is_echo": True}},
    ]
    assert _post(_messenger("page", PAGE_ID, *events)).status_code == 200
    _work()
    point = ContactPoint.objects.get(kind="messenger", value=psid)
    rows = list(Message.objects.order_by("created_at", "id"))
    assert {m.conversation.customer_id for m in rows} == {point.customer_id}
    assert [(m.kind, m.text, m.data) for m in rows] == [
        ("text", "hello", {}),
        ("interactive", "Red", {"id": "RED", "title": "Red"}),
        ("interactive", "Track order", {"id": "TRACK", "title": "Track order"}),
    ]


@pytest.mark.django_db(transaction=True)
def test_instagram_messages_arrive_as_instagram_contacts(db):
    _channel("instagram", IG_ID)
    igsid = "5551234567890123"
    image = {"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/ig/1.jpg"}}
    event = {
        "sender": {"id": igsid},
        "recipient": {"id": IG_ID},
        "timestamp": 1,
        "message": {"mid": "aWdf1", "attachments": [image]},
    }
    assert _post(_messenger("instagram", IG_ID, event)).status_code == 200
    _work()
    message = Message.objects.get()
    assert message.contact_point.kind == "instagram"
    assert message.contact_point.value == igsid
    assert (message.kind, message.media[0]["url"]) == ("image", image["payload"]["url"])


@pytest.mark.django_db(transaction=True)
def test_messenger_inbound_from_the_fake(fake, live_server):
    _channel("messenger", PAGE_ID, api_base=fake.base_url)
    status = fake.send_inbound_messenger(
        live_server.url + PATH, "6543210987654321", "where is my parcel?", page_id=PAGE_ID
    )
    assert status == 200
    _work()
    assert Message.objects.get().text == "where is my parcel?"


# Replies: the outbox, the Graph API and the receipts


def _whatsapp_thread(fake: FakeProviders, live_server: Any, sender: str = CUSTOMER) -> Conversation:
    status = fake.send_inbound_whatsapp(
        live_server.url + PATH, sender, "Is my repair done?", phone_number_id=PHONE_NUMBER_ID
    )
    assert status == 200
    _work()
    return Conversation.objects.get(customer__contact_points__value=sender)


@pytest.mark.django_db(transaction=True)
def test_whatsapp_round_trip_with_receipts_in_one_thread(fake, wa_live, live_server, agent):
    # given a customer who wrote on WhatsApp
    conversation = _whatsapp_thread(fake, live_server)
    # when an agent answers
    reply = message_send(actor=agent, conversation=conversation, text="Yes, ready at 5 pm / café")
    _work()
    assert fake.wait_idle(5)
    _work()
    # then the Graph API got the Cloud API JSON with our bearer token
    [sent] = [r for r in fake.received if r["path"].endswith("/messages")]
    assert sent["path"] == f"/{meta.GRAPH_VERSION}/{PHONE_NUMBER_ID}/messages"
    assert sent["auth_ok"] is True
    outbound = Outbound.objects.get()
    assert sent["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": "Yes, ready at 5 pm / café"},
        "biz_opaque_callback_data": outbound.public_id,
    }
    # and the signed receipts moved it to read, all in the customer's one thread
    assert outbound.provider_id == sent["response"]["messages"][0]["id"]
    assert outbound.status == "read"
    statuses = [h for h in fake.sent if h["kind"] == "whatsapp.status"]
    assert [h["status"] for h in statuses] == [200, 200, 200]
    assert InboundEvent.objects.filter(kind="status", state="processed").count() == 3
    reply.refresh_from_db()
    assert reply.conversation_id == conversation.pk
    assert Conversation.objects.count() == 1
    fake.send_inbound_whatsapp(
        live_server.url + PATH, CUSTOMER, "Thanks!", phone_number_id=PHONE_NUMBER_ID
    )
    _work()
    assert list(
        conversation.messages.order_by("created_at", "id").values_list("direction", flat=True)
    ) == ["inbound", "outbound", "inbound"]


@pytest.mark.django_db(transaction=True)
def test_outside_the_window_the_reply_fails_with_meta_131047(fake, wa_live, live_server, agent):
    conversation = _whatsapp_thread(fake, live_server, sender="+447911120001")
    message_send(actor=agent, conversation=conversation, text="Are you still there?")
    _work()
    assert fake.wait_idle(5)
    _work()
    outbound = Outbound.objects.get()
    assert (outbound.status, outbound.error_code) == ("failed", "meta_131047")
    assert "24 hours" in outbound.error_detail
    assert conversation.customer.timeline.filter(kind="message.failed").exists()


@pytest.mark.django_db(transaction=True)
def test_an_image_reply_goes_as_a_whatsapp_image_with_caption(fake, wa_live, live_server, agent):
    conversation = _whatsapp_thread(fake, live_server)
    media = [{"url": "https://cdn.example.com/label.png", "content_type": "image/png"}]
    message_send(actor=agent, conversation=conversation, text="Your label", media=media)
    _work()
    [sent] = [r for r in fake.received if r["path"].endswith("/messages")]
    assert (sent["status"], sent["json"]["type"]) == (200, "image")
    assert sent["json"]["image"] == {
        "link": "https://cdn.example.com/label.png",
        "caption": "Your label",
    }


@pytest.mark.django_db(transaction=True)
def test_a_template_goes_out_as_a_whatsapp_template(fake, wa_live):
    template = {
        "name": "repair_ready",
        "language": "en_GB",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "R-12"}]}],
    }
    with transaction.atomic():
        outbound = outbound_queue(channel=wa_live, recipient=CUSTOMER, extra={"template": template})
    outbound, _ = outbound_attempt(outbound_id=outbound.pk)
    assert outbound.status == "sent"
    [sent] = fake.received
    assert sent["json"]["type"] == "template"
    assert sent["json"]["template"] == {
        "name": "repair_ready",
        "language": {"code": "en_GB"},
        "components": template["components"],
    }


@pytest.mark.django_db(transaction=True)
def test_messenger_reply_and_its_delivery_and_read_receipts(fake, live_server, make_customer):
    # The fake answers Messenger sends as the Page its token belongs to.
    page_id = numeric_id("page:" + ACCESS_TOKEN, 15)
    channel = _channel("messenger", page_id, api_base=fake.base_url)
    psid = "6543210987654321"
    fake.send_inbound_messenger(live_server.url + PATH, psid, "hi", page_id=page_id)
    _work()
    conversation = Conversation.objects.get()
    message_send(actor=None, conversation=conversation, text="Hello from support")
    _work()
    assert fake.wait_idle(5)
    _work()
    [sent] = [r for r in fake.received if r["path"] == f"/{meta.GRAPH_VERSION}/me/messages"]
    assert sent["auth_ok"] is True
    assert sent["json"] == {
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hello from support"},
    }
    outbound = Outbound.objects.get(channel=channel)
    assert outbound.provider_id == sent["response"]["message_id"]
    assert outbound.status == "read"


@pytest.mark.django_db(transaction=True)
def test_messenger_outside_its_window_fails_at_once_with_meta_10(fake, live_server):
    channel = _channel("messenger", PAGE_ID, api_base=fake.base_url)
    with transaction.atomic():
        outbound = outbound_queue(channel=channel, recipient="6543210987650000", text="hi")
    outbound, _ = outbound_attempt(outbound_id=outbound.pk)
    assert (outbound.status, outbound.error_code, outbound.attempts) == ("failed", "meta_10", 1)
    assert "2018278" in outbound.error_detail


@pytest.mark.django_db(transaction=True)
def test_a_wrong_access_token_fails_the_message_with_meta_190(fake):
    channel = _channel("whatsapp", PHONE_NUMBER_ID, api_base=fake.base_url)
    Channel.objects.filter(pk=channel.pk).update(
        credentials={**channel.credentials, "access_token": "EAAG-revoked"}
    )
    with transaction.atomic():
        outbound = outbound_queue(channel=channel, recipient=CUSTOMER, text="hi")
    outbound, _ = outbound_attempt(outbound_id=outbound.pk)
    assert (outbound.status, outbound.error_code) == ("failed", "meta_190")


class _ScriptedGraph:
    """A loopback server answering every request with one scripted Graph reply."""

    def __init__(self, status: int, body: bytes) -> None:
        script = (status, body)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(script[0])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(script[1])))
                self.end_headers()
                self.wfile.write(script[1])

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _graph(code: int, subcode: int | None = None) -> bytes:
    error: dict[str, Any] = {"message": "x", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (429, b"", "meta_http_429", True),
        (503, b"<html>down</html>", "meta_http_503", True),
        (500, _graph(131000), "meta_131000", True),
        (400, _graph(130429), "meta_130429", True),
        (400, _graph(80007), "meta_80007", True),
        (403, _graph(4), "meta_4", True),
        (400, _graph(131047), "meta_131047", False),
        (400, _graph(131026), "meta_131026", False),
        (400, _graph(10, 2018278), "meta_10", False),
        (200, b'{"messaging_product":"whatsapp"}', "meta_bad_response", False),
    ],
)
def test_graph_errors_map_to_retryable_or_final(whatsapp, status, body, code, retryable):
    graph = _ScriptedGraph(status, body)
    try:
        Channel.objects.filter(pk=whatsapp.pk).update(api_base=graph.url)
        whatsapp.refresh_from_db()
        outbound = outbound_queue(channel=whatsapp, recipient=CUSTOMER, text="hi")
        with pytest.raises(SendError) as raised:
            adapter_for("whatsapp").send(whatsapp, outbound)  # type: ignore[union-attr]
    finally:
        graph.stop()
    assert (raised.value.code, raised.value.retryable) == (code, retryable)


def test_an_unreachable_graph_is_retried(whatsapp):
    Channel.objects.filter(pk=whatsapp.pk).update(api_base="http://127.0.0.1:9")
    with transaction.atomic():
        outbound = outbound_queue(channel=whatsapp, recipient=CUSTOMER, text="hi")
    outbound, _ = outbound_attempt(outbound_id=outbound.pk)
    assert (outbound.status, outbound.error_code) == ("queued", "provider_unreachable")
    assert outbound.next_attempt_at > clock.now()


# After a crash: the receipts' echoed callback data tells that the message went out


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_send_is_found_by_its_receipts_not_sent_twice(fake, wa_live):
    with transaction.atomic():
        outbound = outbound_queue(channel=wa_live, recipient=CUSTOMER, text="once only")
    # given a worker that marked the row SENDING, reached Meta, and died before recording the id
    started = clock.now()
    Outbound.objects.filter(pk=outbound.pk).update(
        status="sending", attempt_started_at=started, attempts=1
    )
    wamid = meta.WHATSAPP.send(wa_live, outbound)
    assert fake.wait_idle(5)
    receipts = InboundEvent.objects.filter(kind="status")
    assert receipts.count() == 3
    assert {e.payload["status"]["biz_opaque_callback_data"] for e in receipts} == {
        outbound.public_id
    }
    # when the sweeper retries it after the send timeout
    with clock.frozen_at(started + timedelta(minutes=2)):
        outbound, early = outbound_attempt(outbound_id=outbound.pk)
        inbound_events_process(event_ids=early)
    # then it is recognised from the receipts and not sent again
    assert outbound.provider_id == wamid
    assert len([r for r in fake.received if r["path"].endswith("/messages")]) == 1
    outbound.refresh_from_db()
    assert outbound.status == "read"


def test_without_a_receipt_find_sent_says_none(whatsapp):
    outbound = outbound_queue(channel=whatsapp, recipient=CUSTOMER, text="hi")
    assert meta.WHATSAPP.find_sent(whatsapp, outbound) is None
    messenger = _channel("messenger", PAGE_ID)
    assert meta.MESSENGER.find_sent(messenger, outbound) is None


# The 24-hour customer-service window (a hint for the console)


def test_the_whatsapp_window_is_24_hours_from_the_last_inbound_message():
    now = clock.now()
    assert meta.whatsapp_window_open(now - timedelta(hours=23, minutes=59), now=now)
    assert not meta.whatsapp_window_open(now - timedelta(hours=24), now=now)
    assert not meta.whatsapp_window_open(None, now=now)
    assert meta.whatsapp_window_closes_at(now) == now + timedelta(hours=24)
    assert meta.whatsapp_window_closes_at(None) is None


# Channel set-up


@pytest.mark.parametrize(
    ("address", "missing"),
    [("12ab", None), (PHONE_NUMBER_ID, "app_secret"), (PHONE_NUMBER_ID, "verify_token")],
)
def test_a_meta_channel_needs_a_numeric_id_and_its_secrets(db, address, missing):
    credentials = {"app_secret": "s", "verify_token": "v", "access_token": "a"}
    if missing:
        credentials[missing] = ""
    with pytest.raises(ValidationFailed):
        channel_create(
            actor=None, kind="whatsapp", name="x", address=address, credentials=credentials
        )
    assert not Channel.objects.exists()


def test_the_cli_adds_a_meta_channel_without_printing_secrets(db, capsys):
    call_command(
        "channels",
        "add",
        "meta",
        "--name",
        "WhatsApp",
        "--kind",
        "whatsapp",
        "--address",
        PHONE_NUMBER_ID,
        "--app-secret",
        "the-app-secret",
        "--verify-token",
        "the-verify-token",
        "--access-token",
        "EAAG-token",
        "--api-base",
        "http://127.0.0.1:9",
    )
    added = json.loads(capsys.readouterr().out)
    assert added["address"] == PHONE_NUMBER_ID
    call_command("channels", "list")
    listed = capsys.readouterr().out
    assert "the-app-secret" not in listed
    assert "EAAG-token" not in listed
    channel = Channel.objects.get()
    assert (channel.kind, channel.api_base) == ("whatsapp", "http://127.0.0.1:9")
    assert channel.credentials == {
        "app_secret": "the-app-secret",
        "verify_token": "the-verify-token",
        "access_token": "EAAG-token",
    }


def test_the_cli_refuses_a_meta_channel_without_its_secret(db, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command(
            "channels",
            "add",
            "meta",
            "--name",
            "Page",
            "--kind",
            "messenger",
            "--address",
            PAGE_ID,
            "--app-secret",
            "",
            "--verify-token",
            "v",
            "--access-token",
            "a",
        )
    assert exited.value.code == 2
    assert "app_secret" in capsys.readouterr().err
    assert not Channel.objects.exists()
