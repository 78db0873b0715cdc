"""The fake Twilio and Meta providers over real loopback HTTP: twilio's own client and urllib."""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from pocketdesk.messaging.fake_providers import FakeProviders

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token"
META_TOKEN = "EAAGm0PX4ZCpsBA-fake"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me"
PHONE_NUMBER_ID = "106540352242922"
SENDER = "+15005550006"
LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class Receiver:
    """A stand-in for our app: records every request, answers `answers` in turn, then 200."""

    def __init__(self, answers: Sequence[int] = ()) -> None:
        self.hits: list[Hit] = []
        self.answers = list(answers)
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                receiver._hit(self, b"")
                if query.get("hub.verify_token") == [VERIFY_TOKEN]:
                    self._answer(200, query["hub.challenge"][0].encode())
                else:
                    self._answer(403, b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._hit(self, body)
                self._answer(status, b"<Response/>" if status < 300 else b"")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ThreadingHTTPServer.request_queue_size = 128
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,))
        self.thread.start()

    def _hit(self, handler: BaseHTTPRequestHandler, body: bytes) -> int:
        with self._changed:
            self.hits.append(
                Hit(handler.command, handler.path, dict(handler.headers.items()), body)
            )
            self._changed.notify_all()
            return self.answers.pop(0) if self.answers else 200

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, path: str = "", timeout: float = 3.0) -> list[Hit]:
        def matching() -> list[Hit]:
            return [hit for hit in self.hits if hit.path.startswith(path)]

        with self._changed:
            self._changed.wait_for(lambda: len(matching()) >= count, timeout=timeout)
            return matching()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def fake(receiver: Receiver) -> Iterator[FakeProviders]:
    with FakeProviders(
        twilio_accounts={ACCOUNT: TOKEN},
        meta_tokens={META_TOKEN},
        meta_app_secret=APP_SECRET,
        meta_webhook_url=receiver.url("/webhooks/meta"),
        meta_phone_numbers={PHONE_NUMBER_ID: "15550783881"},
        status_delay=0,
        retry_delays=(0.02, 0.02, 0.02),
    ) as fake:
        yield fake


def twilio_client(fake: FakeProviders, token: str = TOKEN) -> Client:
    # The generated client builds every URL from the domain's base_url, so this is the whole
    # redirect; requests, auth and parsing stay the library's own.
    http_client = TwilioHttpClient()
    assert http_client.session is not None
    http_client.session.trust_env = False  # loopback: ignore HTTP(S)_PROXY
    client = Client(ACCOUNT, token, http_client=http_client)
    client.api.base_url = fake.base_url
    return client


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    # Loopback URLs only, never through an HTTP(S)_PROXY from the environment.
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with LOOPBACK_OPENER.open(request, timeout=3) as response:
            raw = response.read()
            return response.status, dict(response.headers.items()), json.loads(raw or "null")
    except HTTPError as exc:
        return exc.code, dict(exc.headers.items()), json.loads(exc.read() or "null")


def whatsapp_send(
    fake: FakeProviders, body: Any, token: str | None = META_TOKEN
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{fake.base_url}/v23.0/{PHONE_NUMBER_ID}/messages"
    return http("POST", url, body, headers)


def text_message(to: str = "+16505551234", text: str = "Your parcel is on its way") -> dict:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": text},
    }


def hub_signature_ok(hit: Hit) -> bool:
    expected = "sha256=" + hmac.new(APP_SECRET.encode(), hit.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, hit.headers["X-Hub-Signature-256"])


# Twilio


def test_twilio_client_sends_and_gets_a_queued_message_resource(fake: FakeProviders) -> None:
    # when
    message = twilio_client(fake).messages.create(
        to="+14155550123", from_=SENDER, body="Your order has shipped"
    )

    # then
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert (message.status, message.direction) == ("queued", "outbound-api")
    assert (message.account_sid, message.to, message.from_) == (ACCOUNT, "+14155550123", SENDER)
    assert (message.num_segments, message.num_media) == ("1", "0")
    assert message.price is None
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{message.sid}.json"
    assert message.date_created is not None
    assert message.date_created.tzinfo is not None
    [request] = fake.received
    assert (request["provider"], request["auth_ok"], request["status"]) == ("twilio", True, 201)
    assert request["params"]["Body"] == ["Your order has shipped"]
    assert request["response"]["sid"] == message.sid


def test_the_raw_201_is_shaped_like_twilios_message_resource(fake: FakeProviders) -> None:
    credentials = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    url = f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"

    status, _, body = http(
        "POST",
        url,
        b"To=%2B14155550123&From=%2B15005550006&Body=Hi",
        {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )

    assert status == 201
    assert {
        "account_sid",
        "api_version",
        "body",
        "date_created",
        "date_sent",
        "date_updated",
        "direction",
        "error_code",
        "error_message",
        "from",
        "messaging_service_sid",
        "num_media",
        "num_segments",
        "price",
        "price_unit",
        "sid",
        "status",
        "subresource_uris",
        "to",
        "uri",
    } <= body.keys()
    assert parsedate_to_datetime(body["date_created"]).utcoffset() is not None
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", body["date_created"])
    assert body["date_sent"] is None


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        pytest.param("a" * 160, "1", id="gsm7-160"),
        pytest.param("a" * 161, "2", id="gsm7-161"),
        pytest.param("a" * 306, "2", id="gsm7-2x153"),
        pytest.param("a" * 307, "3", id="gsm7-307"),
        pytest.param("Ça été" + "e" * 154, "1", id="gsm7-accents-in-the-basic-set"),
        pytest.param("€" * 80, "1", id="gsm7-extension-counts-two"),
        pytest.param("€" * 81, "2", id="gsm7-extension-162"),
        pytest.param("a" * 152 + "€" + "a" * 152, "3", id="gsm7-escape-never-split"),
        pytest.param("ç" * 70, "1", id="ucs2-lowercase-c-cedilla-is-not-gsm"),
        pytest.param("ж" * 70, "1", id="ucs2-70"),
        pytest.param("ж" * 71, "2", id="ucs2-71"),
        pytest.param("ж" * 134, "2", id="ucs2-2x67"),
        pytest.param("ж" * 135, "3", id="ucs2-135"),
        pytest.param("😀" * 35, "1", id="emoji-is-two-code-units"),
        pytest.param("😀" * 36, "2", id="emoji-72-units"),
        pytest.param("a" * 66 + "😀" + "a" * 66, "3", id="surrogate-pair-never-split"),
    ],
)
def test_segments_are_counted_like_twilio(fake: FakeProviders, body: str, segments: str) -> None:
    message = twilio_client(fake).messages.create(to="+14155550123", from_=SENDER, body=body)

    assert message.num_segments == segments


def test_mms_repeats_media_url_and_gets_an_mm_sid(fake: FakeProviders) -> None:
    media = ["https://cdn.example.com/pod/1.jpg", "https://cdn.example.com/pod/2.jpg"]

    message = twilio_client(fake).messages.create(
        to="+14155550123", from_=SENDER, body="Proof of delivery", media_url=media
    )

    assert re.fullmatch(r"MM[0-9a-f]{32}", message.sid)
    assert message.num_media == "2"
    assert fake.received[0]["params"]["MediaUrl"] == media


def test_wrong_credentials_get_twilios_401(fake: FakeProviders) -> None:
    with pytest.raises(TwilioRestException) as raised:
        twilio_client(fake, token="not-the-token").messages.create(
            to="+14155550123", from_=SENDER, body="x"
        )

    assert (raised.value.status, raised.value.code) == (401, 20003)
    status, headers, body = http(
        "POST", f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json", b"To=x"
    )
    assert status == 401
    assert body == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert headers["WWW-Authenticate"].startswith("Basic")
    assert [r["auth_ok"] for r in fake.received] == [False, False]


@pytest.mark.parametrize(
    ("to", "from_", "body", "code"),
    [
        pytest.param("555-0123", SENDER, "hi", 21211, id="to-not-e164"),
        pytest.param("+14155550123", "not a number!", "hi", 21212, id="bad-from"),
        pytest.param("+14155550123", SENDER, "", 21602, id="no-body-no-media"),
        pytest.param("+14155550123", SENDER, "x" * 1601, 21617, id="over-1600-chars"),
    ],
)
def test_invalid_sends_get_twilios_400(
    fake: FakeProviders, to: str, from_: str, body: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        twilio_client(fake).messages.create(to=to, from_=from_, body=body)

    assert (raised.value.status, raised.value.code) == (400, code)
    assert fake.received[0]["response"]["more_info"].endswith(str(code))


def test_status_callbacks_arrive_sent_then_delivered_with_twilios_signature(
    fake: FakeProviders, receiver: Receiver
) -> None:
    # given
    callback = receiver.url("/webhooks/twilio/status?channel=7")

    # when
    message = twilio_client(fake).messages.create(
        to="+14155550123", from_=SENDER, body="hi", status_callback=callback
    )

    # then
    hits = receiver.wait_for(2, "/webhooks/twilio/status")
    forms = [hit.form() for hit in hits]
    assert [f["MessageStatus"] for f in forms] == ["sent", "delivered"]
    validator = RequestValidator(TOKEN)
    for hit, form in zip(hits, forms, strict=True):
        assert validator.validate(callback, form, hit.headers["X-Twilio-Signature"])
        assert not validator.validate(
            callback, {**form, "MessageStatus": "read"}, hit.headers["X-Twilio-Signature"]
        )
        assert form["MessageSid"] == form["SmsSid"] == message.sid
        assert (form["AccountSid"], form["From"], form["To"]) == (ACCOUNT, SENDER, "+14155550123")
        assert form["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in form
    assert len({hit.headers["I-Twilio-Idempotency-Token"] for hit in hits}) == 2
    fetched = twilio_client(fake).messages(message.sid).fetch()
    assert (fetched.status, fetched.price) == ("delivered", "-0.00790")
    assert fetched.date_sent is not None


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        pytest.param("+14155550000", [("sent", None), ("undelivered", "30005")], id="0000"),
        pytest.param("+14155550001", [("failed", "30008")], id="0001"),
        pytest.param("+14155550002", [("delivered", None), ("sent", None)], id="0002"),
    ],
)
def test_scripted_outcomes_by_the_last_four_digits(
    fake: FakeProviders, receiver: Receiver, to: str, expected: list
) -> None:
    callback = receiver.url("/status")

    message = twilio_client(fake).messages.create(
        to=to, from_=SENDER, body="hi", status_callback=callback
    )

    hits = receiver.wait_for(len(expected), "/status")
    forms = [hit.form() for hit in hits]
    assert [(f["MessageStatus"], f.get("ErrorCode")) for f in forms] == expected
    assert all(
        RequestValidator(TOKEN).validate(callback, f, h.headers["X-Twilio-Signature"])
        for f, h in zip(forms, hits, strict=True)
    )
    final = twilio_client(fake).messages(message.sid).fetch()
    assert final.status == ("delivered" if to.endswith("0002") else expected[-1][0])


def test_callbacks_are_retried_while_the_receiver_is_failing(
    fake: FakeProviders, receiver: Receiver
) -> None:
    receiver.answers = [503, 502]

    twilio_client(fake).messages.create(
        to="+14155550123", from_=SENDER, body="hi", status_callback=receiver.url("/status")
    )

    assert fake.wait_idle(3)
    hits = receiver.wait_for(4, "/status")
    assert [h.form()["MessageStatus"] for h in hits] == ["sent", "sent", "sent", "delivered"]
    assert len({h.body for h in hits[:3]}) == 1
    statuses = [(s["kind"], s["status"], s["attempts"]) for s in fake.sent]
    assert statuses == [("twilio.status", 200, 3), ("twilio.status", 200, 1)]


def test_callbacks_to_a_receiver_that_is_down_give_up_after_the_retries(
    fake: FakeProviders,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/status"

    twilio_client(fake).messages.create(
        to="+14155550123", from_=SENDER, body="hi", status_callback=dead
    )

    assert fake.wait_idle(3)
    assert [(s["status"], s["attempts"]) for s in fake.sent] == [(None, 4), (None, 4)]
    assert all(s["error"] for s in fake.sent)


def test_a_messaging_service_send_is_accepted_then_queued(
    fake: FakeProviders, receiver: Receiver
) -> None:
    service = "MG" + "f" * 32

    message = twilio_client(fake).messages.create(
        to="+14155550123",
        messaging_service_sid=service,
        body="hi",
        status_callback=receiver.url("/status"),
    )

    assert (message.status, message.from_, message.messaging_service_sid) == (
        "accepted",
        None,
        service,
    )
    forms = [h.form() for h in receiver.wait_for(3, "/status")]
    assert [f["MessageStatus"] for f in forms] == ["queued", "sent", "delivered"]
    assert {f["MessagingServiceSid"] for f in forms} == {service}
    assert re.fullmatch(r"\+1415555\d{4}", forms[0]["From"])


def test_ids_are_unique(fake: FakeProviders) -> None:
    client = twilio_client(fake)
    sids = {
        client.messages.create(to="+14155550123", from_=SENDER, body="x").sid for _ in range(20)
    }
    wamids = {whatsapp_send(fake, text_message())[2]["messages"][0]["id"] for _ in range(20)}

    assert (len(sids), len(wamids)) == (20, 20)


# Meta: WhatsApp Cloud API


def test_whatsapp_send_answers_like_graph(fake: FakeProviders) -> None:
    status, _, body = whatsapp_send(fake, text_message(to="+1 650-555-1234"))

    assert status == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+1 650-555-1234", "wa_id": "16505551234"}]
    [message] = body["messages"]
    assert message.keys() == {"id"}
    assert message["id"].startswith("wamid.")
    assert b"16505551234" in base64.b64decode(message["id"].removeprefix("wamid."))
    [request] = fake.received
    assert (request["provider"], request["auth_ok"]) == ("meta", True)
    assert request["json"]["text"] == {"body": "Your parcel is on its way"}


def test_whatsapp_template_send_is_accepted(fake: FakeProviders) -> None:
    template = {
        "messaging_product": "whatsapp",
        "to": "16505551234",
        "type": "template",
        "template": {"name": "shipment_update", "language": {"code": "en_US"}},
    }

    status, _, body = whatsapp_send(fake, template)

    assert status == 200
    assert body["messages"][0]["message_status"] == "accepted"


def test_whatsapp_status_webhooks_are_signed_sent_delivered_read(
    fake: FakeProviders, receiver: Receiver
) -> None:
    _, _, body = whatsapp_send(fake, text_message())
    message_id = body["messages"][0]["id"]

    hits = receiver.wait_for(3, "/webhooks/meta")

    assert all(hub_signature_ok(hit) for hit in hits)
    assert all(hit.headers["Content-Type"] == "application/json" for hit in hits)
    payloads = [json.loads(hit.body) for hit in hits]
    assert {p["object"] for p in payloads} == {"whatsapp_business_account"}
    values = [p["entry"][0]["changes"][0]["value"] for p in payloads]
    assert {p["entry"][0]["changes"][0]["field"] for p in payloads} == {"messages"}
    assert [v["statuses"][0]["status"] for v in values] == ["sent", "delivered", "read"]
    for value in values:
        [entry] = value["statuses"]
        assert (entry["id"], entry["recipient_id"]) == (message_id, "16505551234")
        assert entry["timestamp"].isdigit()
        assert value["metadata"] == {
            "display_phone_number": "15550783881",
            "phone_number_id": PHONE_NUMBER_ID,
        }
    tampered = Hit("POST", "/", hits[0].headers, hits[0].body.replace(b"sent", b"read"))
    assert not hub_signature_ok(tampered)


def test_whatsapp_outside_the_window_fails_with_131047(
    fake: FakeProviders, receiver: Receiver
) -> None:
    whatsapp_send(fake, text_message(to="16505550001"))

    [hit] = receiver.wait_for(1, "/webhooks/meta")
    assert fake.wait_idle(2)

    assert hub_signature_ok(hit)
    [entry] = json.loads(hit.body)["entry"][0]["changes"][0]["value"]["statuses"]
    assert entry["status"] == "failed"
    assert entry["errors"][0]["code"] == 131047
    # Meta escapes "/" in its payloads; the signature covers those exact bytes.
    assert b"https:\\/\\/developers.facebook.com" in hit.body
    assert len(receiver.hits) == 1


@pytest.mark.parametrize("token", [None, "EAAG-wrong"])
def test_a_bad_graph_token_gets_oauth_190(fake: FakeProviders, token: str | None) -> None:
    status, headers, body = whatsapp_send(fake, text_message(), token=token)

    assert status == 401
    assert body["error"].keys() >= {"message", "type", "code", "fbtrace_id"}
    assert (body["error"]["type"], body["error"]["code"]) == ("OAuthException", 190)
    assert "invalid_token" in headers["WWW-Authenticate"]
    assert fake.received[0]["auth_ok"] is False


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param({"to": "16505551234", "text": {"body": "x"}}, id="no-messaging-product"),
        pytest.param({"messaging_product": "whatsapp", "text": {"body": "x"}}, id="no-to"),
        pytest.param({**text_message(), "text": {}}, id="no-text-body"),
        pytest.param({**text_message(), "type": "fax"}, id="unknown-type"),
        pytest.param({**text_message(), "type": "image", "image": {}}, id="image-without-link"),
    ],
)
def test_a_malformed_whatsapp_body_gets_graph_code_100(fake: FakeProviders, body: Any) -> None:
    status, _, answer = whatsapp_send(fake, body)

    assert status == 400
    assert (answer["error"]["type"], answer["error"]["code"]) == ("OAuthException", 100)
    assert answer["error"]["message"].startswith("(#100)")


# Meta: Messenger


def test_messenger_send_answers_and_posts_delivery_then_read(
    fake: FakeProviders, receiver: Receiver
) -> None:
    status, _, body = http(
        "POST",
        f"{fake.base_url}/v23.0/me/messages",
        {
            "recipient": {"id": "6543210987654321"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Your repair is ready"},
        },
        {"Authorization": f"Bearer {META_TOKEN}", "Content-Type": "application/json"},
    )

    assert status == 200
    assert body["recipient_id"] == "6543210987654321"
    assert body["message_id"].startswith("m_")
    hits = receiver.wait_for(2, "/webhooks/meta")
    assert all(hub_signature_ok(hit) for hit in hits)
    events = [json.loads(hit.body)["entry"][0]["messaging"][0] for hit in hits]
    assert {json.loads(hit.body)["object"] for hit in hits} == {"page"}
    assert events[0]["delivery"]["mids"] == [body["message_id"]]
    assert "read" in events[1]
    assert {e["sender"]["id"] for e in events} == {"6543210987654321"}


def test_messenger_outside_the_window_is_refused_on_send(fake: FakeProviders) -> None:
    status, _, body = http(
        "POST",
        f"{fake.base_url}/v23.0/me/messages?access_token={META_TOKEN}",
        {"recipient": {"id": "6543210987650000"}, "message": {"text": "hi"}},
        {"Content-Type": "application/json"},
    )

    assert status == 400
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (10, 2018278)


# Inspection


def test_the_request_log_lists_and_clears_over_http(fake: FakeProviders) -> None:
    whatsapp_send(fake, text_message())
    whatsapp_send(fake, text_message(), token="wrong")

    status, _, log = http("GET", f"{fake.base_url}/_fake/requests")

    assert status == 200
    assert [(r["provider"], r["status"], r["auth_ok"]) for r in log] == [
        ("meta", 200, True),
        ("meta", 401, False),
    ]
    assert log[0]["path"] == f"/v23.0/{PHONE_NUMBER_ID}/messages"
    assert log[0]["json"]["to"] == "+16505551234"
    assert log[0]["time"]
    assert http("DELETE", f"{fake.base_url}/_fake/requests")[0] == 204
    assert http("GET", f"{fake.base_url}/_fake/requests")[2] == []
    assert fake.received == []


# Inbound: the fake posts to our app as the provider would


def test_inbound_sms_is_signed_as_twilio_signs_it(fake: FakeProviders, receiver: Receiver) -> None:
    url = receiver.url("/webhooks/twilio/sms")
    receiver.answers = [202]

    status = fake.send_inbound_sms(
        url,
        "+447700900123",
        "+14155550100",
        "STOP",
        TOKEN,
        media_urls=["https://api.twilio.com/media/1"],
        media_types=["image/png"],
    )

    assert status == 202
    [hit] = receiver.hits
    form = hit.form()
    assert RequestValidator(TOKEN).validate(url, form, hit.headers["X-Twilio-Signature"])
    assert re.fullmatch(r"MM[0-9a-f]{32}", form["MessageSid"])
    assert (form["AccountSid"], form["From"], form["To"], form["Body"]) == (
        ACCOUNT,
        "+447700900123",
        "+14155550100",
        "STOP",
    )
    assert (form["NumMedia"], form["MediaUrl0"], form["MediaContentType0"]) == (
        "1",
        "https://api.twilio.com/media/1",
        "image/png",
    )
    assert (form["FromCountry"], form["SmsStatus"]) == ("GB", "received")
    assert fake.sent[0]["response"] == "<Response/>"


def test_inbound_sms_with_the_wrong_token_fails_validation(
    fake: FakeProviders, receiver: Receiver
) -> None:
    url = receiver.url("/webhooks/twilio/sms")

    fake.send_inbound_sms(url, "+447700900123", "+14155550100", "hi", "someone-elses-token")

    [hit] = receiver.hits
    assert not RequestValidator(TOKEN).validate(url, hit.form(), hit.headers["X-Twilio-Signature"])


def test_inbound_whatsapp_is_signed_over_metas_escaped_bytes(
    fake: FakeProviders, receiver: Receiver
) -> None:
    status = fake.send_inbound_whatsapp(
        receiver.url("/webhooks/meta"),
        "+16505551234",
        "Où est mon colis? 📦 https://t.co/x",
        phone_number_id=PHONE_NUMBER_ID,
        profile_name="Zoë",
    )

    assert status == 200
    [hit] = receiver.hits
    assert hub_signature_ok(hit)
    assert hit.headers["X-Hub-Signature"].startswith("sha1=")
    assert b"\\u00f9" in hit.body
    assert b"https:\\/\\/t.co" in hit.body
    value = json.loads(hit.body)["entry"][0]["changes"][0]["value"]
    [message] = value["messages"]
    assert message["text"]["body"] == "Où est mon colis? 📦 https://t.co/x"
    assert (message["from"], message["type"]) == ("16505551234", "text")
    assert message["id"].startswith("wamid.")
    assert value["contacts"] == [{"profile": {"name": "Zoë"}, "wa_id": "16505551234"}]
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID


def test_inbound_messenger_and_the_verify_handshake(
    fake: FakeProviders, receiver: Receiver
) -> None:
    url = receiver.url("/webhooks/meta")

    assert fake.meta_subscribe(url, VERIFY_TOKEN) is True
    assert fake.meta_subscribe(url, "wrong") is False
    status = fake.send_inbound_messenger(
        url, "6543210987654321", "hello", page_id="112233445566778"
    )

    assert status == 200
    hit = receiver.hits[-1]
    assert hub_signature_ok(hit)
    event = json.loads(hit.body)["entry"][0]["messaging"][0]
    assert (event["sender"]["id"], event["message"]["text"]) == ("6543210987654321", "hello")


def test_inbound_to_an_app_that_is_down_raises(fake: FakeProviders) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/webhooks/twilio/sms"

    with pytest.raises(ConnectionError):
        fake.send_inbound_sms(dead, "+447700900123", "+14155550100", "hi", TOKEN)


# Command line


def _serve(command: list[str], env: dict[str, str]) -> None:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert base_url, first
        status, _, _ = http(
            "POST",
            f"{base_url[0]}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
            b"To=%2B14155550123&From=%2B15005550006&Body=hi",
            {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()},
        )
        assert status == 201
        time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=5)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "twilio POST" in out
    assert "→ 201 SM" in out
    assert "stopped after 1 requests" in out


def test_the_module_serves_logs_and_stops_on_sigterm() -> None:
    _serve(
        [
            sys.executable,
            "-m",
            "pocketdesk.messaging.fake_providers",
            "--port",
            "0",
            "--twilio-account",
            f"{ACCOUNT}:{TOKEN}",
        ],
        dict(os.environ),
    )


def test_the_pocketdesk_command_serves_logs_and_stops_on_sigterm(tmp_path: Path) -> None:
    # The app may not be installed in the settings under test; a scratch settings module adds it.
    (tmp_path / "fake_providers_settings.py").write_text(
        textwrap.dedent(
            """
            from pocketdesk.settings import *  # noqa: F403

            if "pocketdesk.messaging" not in INSTALLED_APPS:  # noqa: F405
                INSTALLED_APPS = [*INSTALLED_APPS, "pocketdesk.messaging"]  # noqa: F405
            """
        )
    )
    env = {
        **os.environ,
        "PD_MODE": "test",
        "DJANGO_SETTINGS_MODULE": "fake_providers_settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
    }
    _serve(
        [
            sys.executable,
            "-m",
            "pocketdesk",
            "fake-providers",
            "--port",
            "0",
            "--twilio-account",
            f"{ACCOUNT}:{TOKEN}",
        ],
        env,
    )
