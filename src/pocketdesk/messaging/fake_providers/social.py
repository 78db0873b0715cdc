"""A local fake of X's API for social mentions (tests, demo), speaking X's wire format.

``POST /2/tweets`` (``Authorization: Bearer <user access token>``, JSON ``{"text", "reply":
{"in_reply_to_tweet_id"}}``) answers 201 ``{"data": {"id", "text"}}``; a wrong token 401; a
reply to a tweet the fake does not know, or the same text twice, 403 with X's problem body; text
over 280 (weighted) 400. ``fail_next(status)`` scripts the next answers (429, 503, …). With
``webhook_url`` set, each posted tweet comes back as a signed ``tweet_create_events`` webhook, as X
sends the subscribed account its own tweets. ``GET /_fake/tweets`` lists what was posted.

The module-level helpers build X's v1.1 tweet objects (``mention_tweet``), the Account Activity
webhook body and its ``x-twitter-webhooks-signature`` (``webhook_signature``), the CRC answer
(``crc_response_token``), and post a signed mention webhook to a URL (``mention_webhook_post``).
They sign on their own, not with pocketdesk's adapter, so each side checks the other.

Run it with ``python -m pocketdesk.messaging.fake_providers.social --port P --bearer-token T``."""

import argparse
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.error import HTTPError, URLError

LOOPBACK = "127.0.0.1"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_BODY_BYTES = 1024 * 1024
TWITTER_EPOCH_MS = 1288834974657
_sequence = itertools.count(1)
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def tweet_id() -> str:
    """A new snowflake-shaped id (milliseconds since X's epoch, then a sequence)."""
    millis = int(time.time() * 1000) - TWITTER_EPOCH_MS
    return str((millis << 22) | (next(_sequence) & 0x3FFFFF))


def _sign(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    return _sign(consumer_secret, crc_token.encode())


def webhook_signature(consumer_secret: str, body: bytes) -> str:
    return _sign(consumer_secret, body)


def _user(user_id: str, screen_name: str, name: str) -> dict[str, Any]:
    return {
        "id": int(user_id),
        "id_str": user_id,
        "name": name,
        "screen_name": screen_name,
        "location": None,
        "url": None,
        "description": "",
        "protected": False,
        "verified": False,
        "followers_count": 12,
        "friends_count": 34,
        "statuses_count": 56,
        "created_at": "Mon Jan 04 10:00:00 +0000 2016",
        "profile_image_url_https": "https://pbs.twimg.com/profile_images/0/normal.jpg",
        "default_profile_image": False,
    }


def mention_tweet(
    *,
    text: str,
    screen_name: str,
    user_id: str,
    name: str = "",
    in_reply_to: Mapping[str, Any] | None = None,
    tweet_id_str: str | None = None,
) -> dict[str, Any]:
    """A v1.1 tweet object as the Account Activity API delivers it. `in_reply_to` is the tweet
    answered (its id and author fill the in_reply_to_* fields); leading @mentions of a reply are
    outside ``display_text_range``, as X sets them. Text is HTML-escaped as X does."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    mentions = []
    for match in re.finditer(r"@([A-Za-z0-9_]{1,15})", text):
        mentions.append(
            {
                "screen_name": match.group(1),
                "name": match.group(1),
                "id": 0,
                "id_str": "0",
                "indices": [match.start(), match.end()],
            }
        )
    start = 0
    if in_reply_to is not None:
        leading = re.match(r"^(?:@[A-Za-z0-9_]{1,15}\s+)+", text)
        start = leading.end() if leading else 0
    identifier = tweet_id_str or tweet_id()
    now = datetime.now(UTC)
    tweet: dict[str, Any] = {
        "created_at": now.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "id": int(identifier),
        "id_str": identifier,
        "text": escaped,
        "display_text_range": [start, len(text)],
        "source": '<a href="https://mobile.x.com" rel="nofollow">X Web App</a>',
        "truncated": False,
        "in_reply_to_status_id": None,
        "in_reply_to_status_id_str": None,
        "in_reply_to_user_id": None,
        "in_reply_to_user_id_str": None,
        "in_reply_to_screen_name": None,
        "user": _user(user_id, screen_name, name or screen_name),
        "geo": None,
        "coordinates": None,
        "place": None,
        "contributors": None,
        "is_quote_status": False,
        "quote_count": 0,
        "reply_count": 0,
        "retweet_count": 0,
        "favorite_count": 0,
        "entities": {"hashtags": [], "urls": [], "user_mentions": mentions, "symbols": []},
        "favorited": False,
        "retweeted": False,
        "filter_level": "low",
        "lang": "en",
        "timestamp_ms": str(int(now.timestamp() * 1000)),
    }
    if in_reply_to is not None:
        author = in_reply_to.get("user") or {}
        tweet.update(
            {
                "in_reply_to_status_id": int(in_reply_to["id_str"]),
                "in_reply_to_status_id_str": str(in_reply_to["id_str"]),
                "in_reply_to_user_id": int(author.get("id_str") or 0),
                "in_reply_to_user_id_str": str(author.get("id_str") or ""),
                "in_reply_to_screen_name": author.get("screen_name"),
            }
        )
    return tweet


def webhook_body(
    *, for_user_id: str, tweets: Sequence[Mapping[str, Any]], user_has_blocked: bool | None = None
) -> bytes:
    """The Account Activity webhook body X POSTs (``user_has_blocked`` comes with mentions)."""
    payload: dict[str, Any] = {"for_user_id": for_user_id}
    if user_has_blocked is not None:
        payload["user_has_blocked"] = "true" if user_has_blocked else "false"
    payload["tweet_create_events"] = [dict(tweet) for tweet in tweets]
    return json.dumps(payload, separators=(",", ":")).encode()


def webhook_post(url: str, *, consumer_secret: str, body: bytes, timeout: float = 10.0) -> int:
    """POST a webhook body signed as X signs it; the receiver's HTTP status (0 if unreachable)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: webhook_signature(consumer_secret, body),
        },
        method="POST",
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return int(response.status)
    except HTTPError as exc:
        return int(exc.code)
    except (URLError, OSError):
        return 0


def mention_webhook_post(
    url: str,
    *,
    consumer_secret: str,
    for_user_id: str,
    tweets: Sequence[Mapping[str, Any]],
    user_has_blocked: bool = False,
) -> int:
    """Deliver mentions of the subscribed account to a webhook URL, signed, in X's format."""
    body = webhook_body(for_user_id=for_user_id, tweets=tweets, user_has_blocked=user_has_blocked)
    return webhook_post(url, consumer_secret=consumer_secret, body=body)


def _weighted_length(text: str) -> int:
    light = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
    total, position = 0, 0
    for link in re.finditer(r"https?://\S+", text, re.IGNORECASE):
        chunk = text[position : link.start()]
        total += sum(1 if any(a <= ord(c) <= b for a, b in light) else 2 for c in chunk) + 23
        position = link.end()
    return total + sum(1 if any(a <= ord(c) <= b for a, b in light) else 2 for c in text[position:])


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


class FakeX:
    """A loopback X API server. Use as a context manager; ``base_url`` is the ``--api-base``."""

    def __init__(
        self,
        *,
        bearer_token: str,
        user_id: str = "1500000000000000001",
        screen_name: str = "acme",
        port: int = 0,
        webhook_url: str | None = None,
        consumer_secret: str | None = None,
    ) -> None:
        self.bearer_token = bearer_token
        self.user_id, self.screen_name = user_id, screen_name
        self.webhook_url, self.consumer_secret = webhook_url, consumer_secret
        self.tweets: list[dict[str, Any]] = []  # posted through the API, in order
        self.requests: list[dict[str, Any]] = []  # every API request, with the answer's status
        self.known: dict[str, dict[str, Any]] = {}  # tweets that exist (mentions + posted)
        self.webhook_statuses: list[int] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = _Server((LOOPBACK, port), self)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` tweet posts with this status (429, 500, 503, …)."""
        with self._lock:
            self._failures.extend([status] * count)

    def mention(
        self, *, text: str, screen_name: str, user_id: str, name: str = "", reply_to: str = ""
    ) -> dict[str, Any]:
        """A customer's tweet that exists on this fake X (so replies to it are accepted)."""
        tweet = mention_tweet(
            text=text,
            screen_name=screen_name,
            user_id=user_id,
            name=name,
            in_reply_to=self.known.get(reply_to) if reply_to else None,
        )
        with self._lock:
            self.known[tweet["id_str"]] = tweet
        return tweet

    def tweet_post(self, authorization: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if authorization != f"Bearer {self.bearer_token}":
                return 401, _problem(401, "Unauthorized", "Unauthorized")
            if self._failures:
                status = self._failures.pop(0)
                return status, _problem(status, "Service Unavailable", f"Scripted {status}.")
            text = body.get("text") if isinstance(body, dict) else None
            if not isinstance(text, str) or not text.strip():
                return 400, {
                    "errors": [{"message": "$.text: is missing but it is required"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                }
            if _weighted_length(text) > 280:
                return 400, {
                    "errors": [{"message": "$.text: Your Tweet text is too long."}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                }
            reply = body.get("reply") or {}
            answered = str(reply.get("in_reply_to_tweet_id") or "")
            if answered and answered not in self.known:
                return 403, _problem(
                    403,
                    "Forbidden",
                    "You attempted to reply to a Tweet that is deleted or not visible to you.",
                )
            if any(tweet["text"] == text for tweet in self.tweets):
                return 403, _problem(
                    403,
                    "Forbidden",
                    "You are not allowed to create a Tweet with duplicate content.",
                )
            ours = mention_tweet(
                text=text,
                screen_name=self.screen_name,
                user_id=self.user_id,
                in_reply_to=self.known.get(answered) if answered else None,
            )
            self.known[ours["id_str"]] = ours
            self.tweets.append(
                {"id": ours["id_str"], "text": text, "in_reply_to_tweet_id": answered or None}
            )
        if self.webhook_url and self.consumer_secret:
            # X also tells the subscribed account about its own tweet.
            echo = (ours, self.webhook_url, self.consumer_secret)
            threading.Thread(target=self._echo, args=echo, daemon=True).start()
        return 201, {"data": {"id": ours["id_str"], "text": text}}

    def _echo(self, tweet: dict[str, Any], url: str, secret: str) -> None:
        body = webhook_body(for_user_id=self.user_id, tweets=[tweet])
        status = webhook_post(url, consumer_secret=secret, body=body)
        with self._lock:
            self.webhook_statuses.append(status)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeX) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read fake.requests instead

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/_fake/tweets":
            self._answer(200, {"tweets": list(self.server.fake.tweets)})
            return
        self._answer(404, _problem(404, "Not Found Error", "Not found."))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, MAX_BODY_BYTES))
        if self.path != "/2/tweets":
            self._answer(404, _problem(404, "Not Found Error", "Not found."))
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        fake = self.server.fake
        status, answer = fake.tweet_post(self.headers.get("Authorization", ""), body)
        with fake._lock:
            fake.requests.append({"path": self.path, "json": body, "status": status})
        self._answer(status, answer)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local fake X API (POST /2/tweets).")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--bearer-token", required=True)
    parser.add_argument("--webhook-url", help="where to echo our own tweets, signed")
    parser.add_argument("--consumer-secret", help="signs the echoed webhooks")
    options = parser.parse_args(argv)
    fake = FakeX(
        bearer_token=options.bearer_token,
        port=options.port,
        webhook_url=options.webhook_url,
        consumer_secret=options.consumer_secret,
    )
    with fake, contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


if __name__ == "__main__":
    main()
