"""The fake's loopback HTTP server: FakeProviders, routing, request records, webhook delivery."""

import contextlib
import copy
import json
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypedDict
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, urlsplit

from pocketdesk.messaging.fake_providers import media, meta, push, twilio
from pocketdesk.messaging.fake_providers.wire import (
    Outcome,
    Reply,
    Webhook,
    error_text,
    is_http_url,
    utc_now,
)

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024


class ReceivedRequest(TypedDict):
    seq: int
    time: str
    provider: str  # "twilio", "meta" or "unknown"
    method: str
    path: str
    query: dict[str, list[str]]
    params: dict[str, list[str]]  # form fields; every value a list, since MediaUrl repeats
    json: Any
    auth_ok: bool | None  # None where nothing was checked (unknown paths)
    status: int
    response: Any


class SentWebhook(TypedDict):
    seq: int
    time: str
    kind: str  # twilio.status, twilio.inbound, whatsapp.status, messenger.delivery, …
    url: str
    params: dict[str, str]
    json: Any
    signature: str
    attempts: int
    status: int | None  # what the receiver answered last; None if it never answered
    error: str
    response: str


# urllib would send loopback webhooks through HTTP(S)_PROXY; a fake must not.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_send(hook: Webhook, timeout: float) -> tuple[int | None, str, str]:
    """Send once: (status or None, response text, error)."""
    if not is_http_url(hook.url):
        return None, "", f"not an http(s) URL: {hook.url}"
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        hook.url, data=hook.body or None, headers=hook.headers, method=hook.method
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, response.read(4000).decode(errors="replace"), ""
    except HTTPError as exc:
        return exc.code, exc.read(4000).decode(errors="replace"), ""
    except (URLError, OSError) as exc:
        return None, "", str(getattr(exc, "reason", exc))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent sends must not wait on SYN retries

    def __init__(self, port: int, fake: "FakeProviders") -> None:
        self.fake = fake
        super().__init__((LOOPBACK, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "fake-providers/1"

    def log_message(self, format: str, *args: Any) -> None:
        """The fake reports through FakeProviders.on_event, not stderr."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._write(Reply(400, {"error": "bad Content-Length"}))
            return
        if length > MAX_BODY_BYTES:
            self._write(Reply(413, {"error": "request body too large"}))
            return
        raw = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        if split.path in {"/_fake/requests", "/_fake/sent"}:
            self._write(fake._inspect(method, split.path))
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        outcome = fake._route(method, split.path, query, headers, raw)
        fake._record(method, split.path, query, outcome)
        if outcome.then is None:
            # The client may have gone (a killed sender): the request is recorded anyway.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._write(outcome.reply)
            return
        # Count the webhooks as pending before answering, so wait_idle() after a response
        # never misses them.
        fake._busy_add()
        try:
            self._write(outcome.reply)
        finally:
            fake._spawn(outcome.then)

    def _write(self, reply: Reply) -> None:
        if reply.body is not None:
            body = reply.body
        elif reply.payload is None:
            body = b""
        else:
            body = json.dumps(reply.payload, separators=(",", ":")).encode()
        self.send_response(reply.status)
        if reply.payload is not None and reply.body is None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class FakeProviders:
    """A loopback Twilio + Meta Graph fake, started in a thread; also a context manager.

    It is the state the provider handlers work on (twilio.TwilioState, meta.MetaState).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        twilio_accounts: Mapping[str, str] | None = None,
        meta_tokens: Iterable[str] = (),
        meta_app_secret: str | None = None,
        meta_webhook_url: str | None = None,
        meta_phone_numbers: Mapping[str, str] | None = None,
        status_delay: float = 0.05,
        slow_reply_seconds: float = 3.0,
        retry_delays: Sequence[float] = (0.2, 0.5, 1.0),
        webhook_timeout: float = 5.0,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        if meta_webhook_url and not meta_app_secret:
            raise ValueError("meta_webhook_url needs meta_app_secret: Meta signs every webhook")
        self.port = port
        self.twilio_accounts = dict(twilio_accounts or {})
        self.meta_tokens = frozenset(meta_tokens)
        self.meta_app_secret = meta_app_secret
        self.meta_webhook_url = meta_webhook_url
        # phone_number_id → display number (digits), shown in webhook metadata.
        self.meta_phone_numbers = dict(meta_phone_numbers or {})
        self.status_delay = status_delay
        self.slow_reply_seconds = slow_reply_seconds
        self.retry_delays = tuple(retry_delays)
        self.webhook_timeout = webhook_timeout
        self.on_event = on_event
        self.twilio_messages = twilio.TwilioMessages()
        self.push = push.PushService()  # a web push service: /push/{token}
        self.media = media.FakeMedia()  # files of inbound MMS and WhatsApp messages
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._seq = 0
        self._received: list[ReceivedRequest] = []
        self._sent: list[SentWebhook] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._server = _Server(self.port, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-providers",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; webhooks still waiting for their turn are dropped."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.wait_idle(self.webhook_timeout + 1)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def received(self) -> list[ReceivedRequest]:
        with self._lock:
            return copy.deepcopy(self._received)

    @property
    def sent(self) -> list[SentWebhook]:
        """Webhooks the fake posted (status callbacks and inbound messages), oldest first."""
        with self._lock:
            return copy.deepcopy(self._sent)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._sent.clear()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every scheduled status webhook has been posted or given up on."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    # inbound messages: the fake posts to our app as the provider would

    def send_inbound_sms(
        self,
        url: str,
        from_: str,
        to: str,
        body: str,
        auth_token: str,
        *,
        account_sid: str | None = None,
        media_urls: Sequence[str] = (),
        media_types: Sequence[str] = (),
        message_sid: str | None = None,
        messaging_service_sid: str | None = None,
    ) -> int:
        """POST Twilio's inbound SMS/MMS webhook, signed; returns the status our app answered.

        Pass ``message_sid`` to replay a message Twilio already delivered (a retry).
        """
        hook = twilio.inbound_sms_webhook(
            self,
            url,
            from_,
            to,
            body,
            auth_token,
            account_sid=account_sid,
            media_urls=media_urls,
            media_types=media_types,
            message_sid=message_sid,
            messaging_service_sid=messaging_service_sid,
        )
        return self.deliver(hook, retry=False)

    def send_inbound_whatsapp(
        self,
        url: str,
        from_: str,
        body: str,
        *,
        phone_number_id: str,
        app_secret: str | None = None,
        profile_name: str = "",
        message_id: str | None = None,
        message: Mapping[str, Any] | None = None,
    ) -> int:
        """POST Meta's inbound WhatsApp message webhook, signed; returns our app's status.

        ``message`` replaces the text part for other types, e.g. ``{"type": "location",
        "location": {...}}``; ``message_id`` replays a message already delivered.
        """
        hook = meta.inbound_whatsapp_webhook(
            self,
            url,
            from_,
            body,
            phone_number_id=phone_number_id,
            app_secret_override=app_secret,
            profile_name=profile_name,
            message_id=message_id,
            message=message,
        )
        return self.deliver(hook, retry=False)

    def send_inbound_messenger(
        self,
        url: str,
        sender_id: str,
        text: str,
        *,
        page_id: str,
        app_secret: str | None = None,
        mid: str | None = None,
    ) -> int:
        """POST Meta's inbound Messenger webhook (object "page"), signed; returns our status."""
        hook = meta.inbound_messenger_webhook(
            self, url, sender_id, text, page_id=page_id, app_secret_override=app_secret, mid=mid
        )
        return self.deliver(hook, retry=False)

    def twilio_media_add(
        self, account_sid: str, message_sid: str, data: bytes, content_type: str
    ) -> str:
        """A file for an inbound MMS (pass the same ``message_sid`` to ``send_inbound_sms``);
        returns its MediaUrl, which answers the bytes to Basic auth as the account."""
        return media.twilio_media_add(self, account_sid, message_sid, data, content_type)

    def whatsapp_media_add(self, data: bytes, mime_type: str) -> str:
        """A file for an inbound WhatsApp message; returns the media id to put in its
        ``image``/``document``/… part. Graph's ``GET /{version}/{media_id}`` gives its URL."""
        return media.whatsapp_media_add(self, data, mime_type)

    def push_subscribe(
        self, *, script: str = "", application_server_key: str | None = None
    ) -> push.FakeSubscription:
        """A web push subscription on this fake, as a browser would make (see ``push``)."""
        return self.push.subscribe(
            self.base_url, script=script, application_server_key=application_server_key
        )

    def meta_subscribe(self, url: str, verify_token: str) -> bool:
        """Meta's GET verification handshake: True if our app echoed the challenge."""
        hook, challenge = meta.subscribe_request(url, verify_token)
        status, text, error = _http_send(hook, self.webhook_timeout)
        self._record_sent(hook, 1, status, error, text)
        if status is None:
            raise ConnectionError(error)
        return status == 200 and text == challenge

    # used by the provider handlers (twilio.TwilioState, meta.MetaState)

    def wait_status_delay(self) -> bool:
        """Sleep status_delay between one status and the next; False once the fake is stopping."""
        return not self._stopping.wait(self.status_delay)

    def deliver(self, hook: Webhook, *, retry: bool = True) -> int:
        """POST a webhook, retrying connection errors and 5xx; returns the last status (0: none)."""
        delays = (0.0, *self.retry_delays) if retry else (0.0,)
        status: int | None = None
        text = error = ""
        attempts = 0
        for delay in delays:
            if delay and self._stopping.wait(delay):
                break
            attempts += 1
            status, text, error = _http_send(hook, self.webhook_timeout)
            if status is not None and status < 500:
                break
        self._record_sent(hook, attempts, status, error, text)
        if not retry and status is None:
            raise ConnectionError(f"{hook.url}: {error}")
        return status or 0

    # request handling

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Outcome:
        outcome = media.handle(self, method, path, query, headers)
        if outcome is None:
            outcome = twilio.handle(self, method, path, query, headers, raw)
        if outcome is None:
            outcome = meta.handle(self, method, path, query, headers, raw)
        if outcome is None:
            outcome = push.handle(self, method, path, headers, raw)
        if outcome is None:
            outcome = Outcome(Reply(404, {"error": f"the fake has nothing at {path}"}))
        return outcome

    def _inspect(self, method: str, path: str) -> Reply:
        if method == "GET":
            return Reply(200, self.received if path == "/_fake/requests" else self.sent)
        if method == "DELETE":
            with self._lock:
                (self._received if path == "/_fake/requests" else self._sent).clear()
            return Reply(204, None)
        return Reply(405, {"error": "GET or DELETE"})

    # webhooks out

    def _busy_add(self) -> None:
        with self._lock:
            self._busy += 1

    def _spawn(self, target: Callable[[], None]) -> None:
        """Run target in a thread; the caller has already counted it with _busy_add()."""

        def run() -> None:
            try:
                target()
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        threading.Thread(target=run, name="fake-providers-webhooks", daemon=True).start()

    # records

    def _record(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        outcome: Outcome,
    ) -> None:
        with self._lock:
            self._seq += 1
            record = ReceivedRequest(
                seq=self._seq,
                time=utc_now().isoformat(),
                provider=outcome.provider,
                method=method,
                path=path,
                query={k: ["…"] if k == "access_token" else v for k, v in query.items()},
                params=outcome.params,
                json=outcome.json,
                auth_ok=outcome.auth_ok,
                status=outcome.reply.status,
                response=copy.deepcopy(outcome.reply.payload),
            )
            self._received.append(record)
        detail = outcome.summary or error_text(outcome.reply.payload)
        self._emit(f"{outcome.provider} {method} {path} → {outcome.reply.status} {detail}")

    def _record_sent(
        self, hook: Webhook, attempts: int, status: int | None, error: str, text: str
    ) -> None:
        with self._lock:
            self._seq += 1
            self._sent.append(
                SentWebhook(
                    seq=self._seq,
                    time=utc_now().isoformat(),
                    kind=hook.kind,
                    url=hook.url,
                    params=dict(hook.params),
                    json=copy.deepcopy(hook.payload),
                    signature=hook.signature,
                    attempts=attempts,
                    status=status,
                    error=error,
                    response=text[:2000],
                )
            )
        answer = str(status) if status is not None else f"no answer ({error})"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        self._emit(f"webhook {hook.kind} → {hook.url}: {answer}{tries}")

    def _emit(self, line: str) -> None:
        if self.on_event is not None:
            self.on_event(f"{utc_now():%H:%M:%S} {line}")
