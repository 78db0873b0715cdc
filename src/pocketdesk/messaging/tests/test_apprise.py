"""Apprise channels: a URL checked by Apprise and kept secret, messages sent by the outbox through
Apprise to a real local HTTP sink (json://, form://, ntfy://), retried when the service fails."""

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.core.management import call_command
from django.db import transaction

from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, ValidationFailed
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.messaging import services, tasks
from pocketdesk.messaging.models import Channel, Outbound


class Sink:
    """A loopback HTTP server that keeps what it receives and answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sink.received.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type", ""),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(sink.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def __enter__(self) -> "Sink":
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def _channel(url: str) -> Channel:
    return services.channel_create(
        actor=None, kind="apprise", name="Ops alerts", address="", credentials={"url": url}
    )


def _queue(channel: Channel, text: str, **extra: Any) -> Outbound:
    with transaction.atomic():
        outbound = services.outbound_queue(
            channel=channel, recipient="ops team", text=text, extra=extra
        )
        enqueue_on_commit(tasks.outbound_send, outbound.pk)
    return outbound


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_a_message_reaches_the_service_behind_the_url(sink):
    channel = _channel(f"json://127.0.0.1:{sink.port}/hooks/support")
    outbound = _queue(channel, "Parcel 1234 is late", title="Shipping alert")
    _work()
    [request] = sink.received
    assert request["path"] == "/hooks/support"
    payload = json.loads(request["body"])
    assert (payload["title"], payload["message"]) == ("Shipping alert", "Parcel 1234 is late")
    outbound.refresh_from_db()
    assert (outbound.status, outbound.provider_id) == ("sent", outbound.public_id)


def test_form_and_ntfy_urls_work_too(db, sink):
    form = _channel(f"form://127.0.0.1:{sink.port}/form")
    ntfy = _channel(f"ntfy://127.0.0.1:{sink.port}/support-alerts")
    for channel, text in ((form, "by form"), (ntfy, "by ntfy")):
        outbound = services.outbound_queue(channel=channel, recipient="", text=text)
        sent, _ = services.outbound_attempt(outbound_id=outbound.pk)
        assert sent.status == "sent"
    by_form, by_ntfy = sink.received
    assert parse_qs(by_form["body"].decode())["message"] == ["by form"]
    assert b"by ntfy" in by_ntfy["body"]
    assert "support-alerts" in by_ntfy["path"] + by_ntfy["body"].decode()


def test_a_failing_service_makes_the_message_wait_and_retry(db, sink):
    sink.status = 500
    channel = _channel(f"json://127.0.0.1:{sink.port}/hook")
    outbound = services.outbound_queue(channel=channel, recipient="", text="Recall notice")
    before = clock.now()
    outbound, _ = services.outbound_attempt(outbound_id=outbound.pk)
    assert len(sink.received) == 1  # Apprise did reach it
    assert (outbound.status, outbound.error_code, outbound.attempts) == (
        "queued",
        "apprise_failed",
        1,
    )
    assert outbound.next_attempt_at > before + timedelta(seconds=20)
    assert outbound.provider_id is None
    # The service recovers; the retry (once its backoff is over) goes through.
    sink.status = 200
    Outbound.objects.filter(pk=outbound.pk).update(next_attempt_at=clock.now())
    outbound, _ = services.outbound_attempt(outbound_id=outbound.pk)
    assert (outbound.status, outbound.attempts) == ("sent", 2)
    assert len(sink.received) == 2


def test_an_unreachable_service_is_retried_with_apprise_s_reason(db):
    with Sink() as closed:
        port = closed.port
    channel = _channel(f"json://127.0.0.1:{port}/hook")
    outbound = services.outbound_queue(channel=channel, recipient="", text="hello")
    outbound, _ = services.outbound_attempt(outbound_id=outbound.pk)
    assert (outbound.status, outbound.error_code) == ("queued", "apprise_failed")
    assert "connection" in outbound.error_detail.lower()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "nonsense://token@host",
        "json://",
        "tgram://",
        "json://127.0.0.1/a, json://127.0.0.1/b",
    ],
)
def test_urls_apprise_cannot_use_are_refused(db, url):
    with pytest.raises(ValidationFailed) as refused:
        _channel(url)
    assert refused.value.code == "apprise_url_invalid"
    assert url not in refused.value.detail or not url
    assert not Channel.objects.exists()


def test_the_url_is_a_secret_and_the_same_url_is_one_channel(db, capsys):
    url = "tgram://123456789:AAF-secret-bot-token/987654321"
    channel = _channel(url)
    assert "secret" not in channel.address
    assert channel.address.startswith("tgram:")
    with pytest.raises(Conflict):
        _channel(url)
    call_command("channels", "list")
    assert "secret" not in capsys.readouterr().out


def test_cli_adds_an_apprise_channel(db, capsys):
    call_command(
        "channels", "add", "apprise", "--name", "Ops", "--url", "ntfy://127.0.0.1:9/s3cret-topic"
    )
    added = json.loads(capsys.readouterr().out)
    assert "s3cret" not in added["address"]
    assert Channel.objects.get().credentials == {"url": "ntfy://127.0.0.1:9/s3cret-topic"}
    with pytest.raises(SystemExit) as exited:
        call_command("channels", "add", "apprise", "--name", "Bad", "--url", "nope://x")
    assert exited.value.code == 2
    assert "apprise_url_invalid" in capsys.readouterr().err
