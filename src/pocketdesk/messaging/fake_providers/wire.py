"""What the fake puts on the wire: provider ids, signatures, error bodies, replies and webhooks."""

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator


@dataclass
class Reply:
    """The fake's answer to one request: JSON `payload` (None: an empty body), or raw `body`
    bytes (a media download) whose Content-Type is in `headers`."""

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class Outcome:
    """A handled request: the reply, what to record about it, and what to run after replying."""

    reply: Reply
    provider: str = "unknown"
    params: dict[str, list[str]] = field(default_factory=dict)
    json: Any = None
    auth_ok: bool | None = None
    summary: str = ""
    then: Callable[[], None] | None = None


@dataclass
class Webhook:
    """A request the fake sends to our app, body already serialised and signed."""

    kind: str
    url: str
    body: bytes
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    payload: Any = None
    signature: str = ""
    method: str = "POST"


# ids


def twilio_sid(prefix: str) -> str:
    """A Twilio resource id: two-letter prefix (SM, MM, AC, MG…) and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def whatsapp_message_id(wa_id: str) -> str:
    """A ``wamid.`` id laid out like Meta's: base64 of a small record holding the wa_id."""
    digits = wa_id.encode()
    ref = secrets.token_hex(10).upper().encode()
    head = b"\x1c\x18" + bytes([len(digits)]) + digits
    tail = b"\x15\x02\x00\x11\x18" + bytes([len(ref)]) + ref + b"\x00"
    raw = head + tail
    return "wamid." + base64.b64encode(raw).decode()


def messenger_message_id() -> str:
    return "m_" + base64.urlsafe_b64encode(secrets.token_bytes(63)).decode()


def fbtrace_id() -> str:
    return "A" + base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]


def numeric_id(seed: str, digits: int) -> str:
    """A stable all-digit id of the given length (WABA, page, pool numbers) derived from seed."""
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8])
    return str(10 ** (digits - 1) + value % (9 * 10 ** (digits - 1)))


# serialisation and signatures


def meta_json(payload: Any) -> bytes:
    """Serialise as Meta does: compact, non-ASCII as \\uXXXX and ``/`` escaped as ``\\/``.

    The signature covers these exact bytes, so a receiver must verify the raw body, never a
    re-serialised copy.
    """
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def meta_signature(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value for a raw body."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def twilio_webhook(kind: str, url: str, params: dict[str, str], auth_token: str) -> Webhook:
    """A form-encoded Twilio webhook signed with ``X-Twilio-Signature``."""
    signature = RequestValidator(auth_token).compute_signature(url, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        "User-Agent": "TwilioProxy/1.1",
    }
    return Webhook(kind, url, urlencode(params).encode(), headers, params, signature=signature)


def meta_webhook(kind: str, url: str, payload: Any, app_secret: str) -> Webhook:
    """A JSON Meta webhook signed with ``X-Hub-Signature-256`` (and the legacy SHA-1 header)."""
    body = meta_json(payload)
    signature = meta_signature(body, app_secret)
    sha1 = hmac.new(app_secret.encode(), body, hashlib.sha1).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature,
        "X-Hub-Signature": "sha1=" + sha1,
        "User-Agent": "facebookexternalua",
    }
    return Webhook(kind, url, body, headers, payload=payload, signature=signature)


# error bodies


def twilio_error(status: int, code: int, message: str) -> Reply:
    return Reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    details: str | None = None,
) -> Reply:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = fbtrace_id()
    headers = {}
    if code == 190:
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{message}"'
    return Reply(status, {"error": error}, headers)


def error_text(payload: Any) -> str:
    """A one-line summary of a Twilio or Graph error body, for the request log."""
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            return f"{error.get('code', '')} {error.get('message', '')}".strip()
        return str(error)
    return ""


# small shared readings


def utc_now() -> datetime:
    return datetime.now(UTC)


def form_value(params: Mapping[str, list[str]], name: str) -> str:
    """The last value of a (possibly repeated) form or query field, "" if absent."""
    values = params.get(name) or [""]
    return values[-1]


def is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def snippet(text: str, length: int = 40) -> str:
    """A short quoted excerpt of a message body for the request log."""
    text = text.replace("\n", " ")
    return json.dumps(text if len(text) <= length else text[:length] + "…", ensure_ascii=False)
