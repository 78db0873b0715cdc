"""Media customers send by MMS and WhatsApp: downloaded from the (fake) provider while the event
is processed and kept within the type and size limits; what cannot be kept is listed, never
stored, and never fails the event. media_fetch against a small local server for the edges."""

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import Message
from pocketdesk.messaging.fake_providers import (
    FakeProviders,
    meta_json,
    meta_signature,
    twilio_sid,
    whatsapp_message_id,
)
from pocketdesk.messaging.media import MAX_MEDIA_BYTES, FetchedMedia, media_fetch, media_store
from pocketdesk.messaging.models import InboundEvent
from pocketdesk.messaging.services import channel_create, inbound_events_process

SID = "AC" + "5" * 32
TOKEN = "twilio-auth-token-media"
NUMBER = "+14155550150"
PHONE_NUMBER_ID = "106540352249999"
APP_SECRET = "meta-app-secret-media"
ACCESS_TOKEN = "EAAG-media-access-token"
WA_ID = "447911123470"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64 + b"\xff\xd9"
OGG = b"OggS\x00\x02" + b"\x00" * 40


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def _kept_files(media_root: Any) -> list[Any]:
    folder = media_root / "attachments"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with FakeProviders(twilio_accounts={SID: TOKEN}, meta_tokens={ACCESS_TOKEN}) as fake:
        yield fake


# MMS


@pytest.fixture
def twilio_channel(transactional_db: Any, fake: FakeProviders) -> Any:
    return channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support line",
        address=NUMBER,
        credentials={"account_sid": SID, "auth_token": TOKEN},
        api_base=fake.base_url,
    )


def _mms(settings: Any, params: dict[str, str]) -> None:
    base = {"AccountSid": SID, "From": "+447911123470", "To": NUMBER, "Body": ""}
    params = {**base, **params}
    path = "/webhooks/twilio/sms"
    signature = RequestValidator(TOKEN).compute_signature(settings.PD_PUBLIC_URL + path, params)
    assert Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    _work()


def _media_params(fake: FakeProviders, sid: str, files: list[tuple[bytes, str]]) -> dict[str, str]:
    params = {"MessageSid": sid, "NumMedia": str(len(files))}
    for index, (data, content_type) in enumerate(files):
        params[f"MediaUrl{index}"] = fake.twilio_media_add(SID, sid, data, content_type)
        params[f"MediaContentType{index}"] = content_type
    return params


def test_an_oversized_or_blocked_mms_file_is_listed_not_stored(
    twilio_channel, fake, settings, media_root
):
    sid = twilio_sid("MM")
    big = b"\xff" * (MAX_MEDIA_BYTES + 1)
    files = [
        (big, "image/jpeg"),
        (b"<script>alert(1)</script>", "text/html"),
        (b"MZ\x90\x00", "application/x-msdownload"),
        (PNG, "image/png"),
    ]
    _mms(settings, _media_params(fake, sid, files))
    message = Message.objects.get()
    large, page, program, photo = message.media
    assert (large["too_large"], large["size"], large["content_type"]) == (
        True,
        len(big),
        "image/jpeg",
    )
    assert (page["blocked"], page["content_type"]) == (True, "text/html")
    assert (program["blocked"], program["content_type"]) == (True, "application/x-msdownload")
    for item in (large, page, program):
        assert "url" not in item
        assert item["source_url"].startswith(fake.base_url)  # Twilio's reference is kept
    assert photo["url"].startswith("/media/attachments/")
    assert [p.name for p in _kept_files(media_root)] == ["3-attachment.png"]
    assert (message.kind, InboundEvent.objects.get().state) == ("file", "processed")


def test_an_mms_file_twilio_does_not_give_is_listed_unavailable(
    twilio_channel, fake, settings, media_root
):
    sid = twilio_sid("MM")
    gone = f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages/{sid}/Media/{twilio_sid('ME')}"
    params = _media_params(fake, sid, [(PNG, "image/png")])
    params.update({"NumMedia": "2", "MediaUrl1": gone, "MediaContentType1": "image/jpeg"})
    params["Body"] = "Two photos"
    _mms(settings, params)
    message = Message.objects.get()
    photo, missing = message.media
    assert "url" in photo
    assert missing["unavailable"] is True
    assert (missing["source_url"], missing["content_type"]) == (gone, "image/jpeg")
    assert "url" not in missing
    assert (message.text, InboundEvent.objects.get().state) == ("Two photos", "processed")
    assert len(_kept_files(media_root)) == 1


def test_reprocessing_an_mms_reuses_its_file(twilio_channel, fake, settings, media_root):
    sid = twilio_sid("MM")
    _mms(settings, _media_params(fake, sid, [(PNG, "image/png")]))
    first = Message.objects.get().media[0]
    # The same event processed again (a retry after a crash) fetches and keeps the same file.
    event = InboundEvent.objects.get()
    InboundEvent.objects.filter(pk=event.pk).update(state=InboundEvent.State.PENDING)
    Message.objects.all().delete()
    assert inbound_events_process(event_ids=[event.pk]) == 1
    assert Message.objects.get().media[0]["path"] == first["path"]
    assert len(_kept_files(media_root)) == 1


# WhatsApp


@pytest.fixture
def whatsapp(transactional_db: Any, fake: FakeProviders) -> Any:
    return channel_create(
        actor=None,
        kind="whatsapp",
        name="WhatsApp line",
        address=PHONE_NUMBER_ID,
        credentials={
            "app_secret": APP_SECRET,
            "verify_token": "verify-media",
            "access_token": ACCESS_TOKEN,
        },
        api_base=fake.base_url,
    )


def _whatsapp(message: dict[str, Any]) -> str:
    wamid = whatsapp_message_id(WA_ID)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Zoë"}, "wa_id": WA_ID}],
                            "messages": [
                                {"from": WA_ID, "id": wamid, "timestamp": "1750000000", **message}
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = meta_json(payload)
    headers = {"X-Hub-Signature-256": meta_signature(body, APP_SECRET)}
    response = Client().post(
        "/webhooks/meta", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200
    return wamid


def test_a_whatsapp_image_and_voice_note_round_trip(whatsapp, fake, agent, media_root):
    # given: the customer sends a photo with a caption, then a voice note
    image_id = fake.whatsapp_media_add(JPEG, "image/jpeg")
    voice_id = fake.whatsapp_media_add(OGG, "audio/ogg; codecs=opus")
    image = {"id": image_id, "mime_type": "image/jpeg", "sha256": "x", "caption": "Broken lid"}
    photo_wamid = _whatsapp({"type": "image", "image": image})
    voice = {"id": voice_id, "mime_type": "audio/ogg; codecs=opus", "voice": True}
    voice_wamid = _whatsapp({"type": "audio", "audio": voice})
    # when
    _work()
    # then: both were fetched through Graph's media node and download URL, with the token
    photo = Message.objects.get(provider_id=photo_wamid)
    assert (photo.kind, photo.text) == ("image", "Broken lid")
    item = photo.media[0]
    assert (item["id"], item["content_type"], item["size"]) == (image_id, "image/jpeg", len(JPEG))
    note = Message.objects.get(provider_id=voice_wamid).media[0]
    assert (note["content_type"], note["path"].endswith(".ogg")) == ("audio/ogg", True)
    graph = [r for r in fake.received if r["provider"] == "meta"]
    assert [(r["path"], r["auth_ok"], r["status"]) for r in graph] == [
        (f"/v23.0/{image_id}", True, 200),
        ("/whatsapp_business/attachments/", True, 200),
        (f"/v23.0/{voice_id}", True, 200),
        ("/whatsapp_business/attachments/", True, 200),
    ]
    # and support opens them from our own URL
    client = Client()
    client.force_login(agent)
    response = client.get(item["url"])
    assert (response.status_code, response["Content-Type"], _body(response)) == (
        200,
        "image/jpeg",
        JPEG,
    )
    audio = client.get(note["url"])
    assert (audio["Content-Type"], audio["Content-Disposition"][:10]) == ("audio/ogg", "attachment")
    assert len(_kept_files(media_root)) == 2


def test_a_whatsapp_file_graph_does_not_know_is_unavailable(whatsapp, fake, media_root):
    document = {"id": "1479537139650973", "mime_type": "application/pdf", "filename": "bill.pdf"}
    wamid = _whatsapp({"type": "document", "document": document})
    _work()
    message = Message.objects.get(provider_id=wamid)
    assert message.media == [
        {
            "id": "1479537139650973",
            "content_type": "application/pdf",
            "name": "bill.pdf",
            "unavailable": True,
            "error": "Graph answered HTTP 400",
        }
    ]
    assert InboundEvent.objects.get().state == "processed"
    assert _kept_files(media_root) == []


# media_store


def test_a_file_is_kept_once_per_key_and_never_reused_for_other_bytes(db, media_root):
    first = media_store(data=PNG, name="../../evil.html", content_type="image/png", key="k")
    again = media_store(data=PNG, name="../../evil.html", content_type="image/png", key="k")
    other = media_store(data=PNG + b"!", name="evil.html", content_type="image/png", key="k")
    assert first["path"] == again["path"]
    assert first["path"].endswith("/0-evil.png")  # never kept as HTML
    assert other["path"] != first["path"]
    assert len(_kept_files(media_root)) == 2


@pytest.mark.parametrize(
    ("name", "content_type", "kept_as"),
    [
        ("IMG_0001.HEIC", "image/heic", "IMG_0001.HEIC"),
        ("photo.jpeg", "image/jpg", "photo.jpeg"),
        ("", "audio/ogg; codecs=opus", "attachment.ogg"),
        ("Rapport annuel.docx", "application/msword", "Rapport_annuel.doc"),
        ("clip", "video/mp4", "clip.mp4"),
    ],
)
def test_kept_names_carry_the_extension_of_their_type(db, name, content_type, kept_as):
    item = media_store(data=b"data", name=name, content_type=content_type, key=name)
    assert item["path"].rsplit("/", 1)[1] == f"0-{kept_as}"


@pytest.mark.parametrize("content_type", ["image/svg+xml", "text/html", "application/zip", ""])
def test_other_types_are_blocked(db, media_root, content_type):
    item = media_store(data=b"<svg/>", name="x.svg", content_type=content_type, key="k")
    assert item["blocked"] is True
    assert "url" not in item
    assert _kept_files(media_root) == []


# media_fetch against a local server


Route = Callable[[BaseHTTPRequestHandler], None]


class _Server:
    """A loopback HTTP server answering each path with a small function; records requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str]] = []  # (path, Authorization header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append((self.path, self.headers.get("Authorization", "")))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                route(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    started = _Server()
    yield started
    started.close()


other_server = server  # a second origin (another port)


def _answer(status: int, body: bytes = b"", **headers: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


def _chunked(content_type: str, chunk: bytes, count: int) -> Route:
    """A body without Content-Length, sent in chunks until the client stops reading."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for _ in range(count):
                handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up: what a size limit should do

    return route


def test_a_file_is_fetched_with_its_type_and_name(server):
    disposition = 'attachment; filename="label 7.pdf"'
    server.routes["/f"] = _answer(
        200, b"%PDF-1.4", Content_Type="application/pdf", Content_Disposition=disposition
    )
    fetched = media_fetch(server.url + "/f", auth=("user", "secret"))
    assert fetched == FetchedMedia(
        data=b"%PDF-1.4", content_type="application/pdf", name="label 7.pdf"
    )
    assert server.seen[0][1].startswith("Basic ")


def test_an_opaque_response_type_falls_back_to_the_declared_one(server):
    server.routes["/f"] = _answer(200, PNG, Content_Type="application/octet-stream")
    fetched = media_fetch(server.url + "/f", content_type="image/png")
    assert isinstance(fetched, FetchedMedia)
    assert fetched.content_type == "image/png"


def test_a_body_past_the_limit_is_too_large_declared_or_not(server):
    server.routes["/declared"] = _answer(200, b"x" * 2000, Content_Type="image/png")
    server.routes["/streamed"] = _chunked("image/png", b"x" * 1000, 10_000)
    assert media_fetch(server.url + "/declared", max_bytes=1000) == {
        "content_type": "image/png",
        "size": 2000,
        "too_large": True,
    }
    assert media_fetch(server.url + "/streamed", max_bytes=5000) == {
        "content_type": "image/png",
        "too_large": True,
    }


def test_a_type_we_do_not_keep_is_blocked_unread(server):
    server.routes["/page"] = _answer(200, b"<html>", Content_Type="text/html; charset=utf-8")
    assert media_fetch(server.url + "/page") == {"content_type": "text/html", "blocked": True}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:x", ""])
def test_only_http_urls_are_fetched(url):
    assert media_fetch(url)["blocked"] is True  # type: ignore[index]


def test_a_redirect_to_another_scheme_is_not_followed(server):
    server.routes["/r"] = _answer(302, Location="file:///etc/passwd")
    result = media_fetch(server.url + "/r")
    assert result == {"blocked": True, "error": "redirect to a non-http(s) URL"}


def test_credentials_do_not_follow_a_redirect_to_another_origin(server, other_server):
    server.routes["/r"] = _answer(302, Location=other_server.url + "/file")
    other_server.routes["/file"] = _answer(200, PNG, Content_Type="image/png")
    headers = {"Authorization": "Bearer secret-token"}
    fetched = media_fetch(server.url + "/r", headers=headers)
    assert isinstance(fetched, FetchedMedia)
    assert fetched.data == PNG
    assert server.seen == [("/r", "Bearer secret-token")]
    assert other_server.seen == [("/file", "")]


def test_errors_and_endless_redirects_are_unavailable(server):
    server.routes["/error"] = _answer(500, b"oops", Content_Type="text/plain")
    server.routes["/loop"] = _answer(302, Location="/loop")
    assert media_fetch(server.url + "/error") == {"unavailable": True, "error": "HTTP 500"}
    assert media_fetch(server.url + "/loop") == {"unavailable": True, "error": "too many redirects"}
    closed = server.url.rsplit(":", 1)[0] + ":1"
    assert media_fetch(closed + "/x")["unavailable"] is True  # type: ignore[index]
