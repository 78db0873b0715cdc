"""A fake web push service (RFC 8030) that is also the receiving device: it makes subscriptions
whose private keys it keeps, checks each push's VAPID header (RFC 8292: an ES256 JWT whose
``aud`` is the endpoint's origin and whose ``exp`` is within 24 hours, signed by the key in
``k``), decrypts the aes128gcm body (RFC 8291) and records the notification a phone would show.

``POST /push/{token}[/{script}]`` answers 201 with a ``Location`` for the message. Scripts, by
the endpoint's last path segment: ``gone`` → 410 (the subscription expired), ``missing`` → 404,
``busy`` → 429 with ``Retry-After``. A missing or bad VAPID header gets 401, a key other than
the subscription's ``applicationServerKey`` 403, a missing ``TTL`` 400, another encoding 415 and
a body over 4096 bytes 413. A body the device cannot decrypt is accepted (a push service cannot
tell) and recorded with ``error`` set, as a phone would drop it.
"""

import base64
import binascii
import copy
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pocketdesk.messaging.fake_providers.wire import Outcome, Reply, snippet, utc_now

PUSH_PATH = re.compile(r"^/push/(?P<token>[A-Za-z0-9_-]{16,})(?:/(?P<script>[a-z]+))?$")
SCRIPTS = frozenset({"gone", "missing", "busy"})
MAX_PAYLOAD = 4096  # RFC 8030 §7.2: a push service must take at least this much
MAX_JWT_LIFETIME = 24 * 3600  # RFC 8292 §2: exp no more than 24 hours ahead


def _b64url_decode(text: str) -> bytes:
    text = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass(frozen=True)
class FakeSubscription:
    """What ``pushManager.subscribe()`` hands the page; the fake keeps the private half."""

    endpoint: str
    p256dh: str
    auth: str

    def as_json(self) -> dict[str, Any]:
        """``PushSubscription.toJSON()``: what the page posts to the server."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }


@dataclass
class _Device:
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str | None


class PushDelivery(TypedDict):
    """One push the fake accepted or refused, as the device saw it."""

    time: str
    endpoint: str
    status: int
    message_id: str
    ttl: int | None
    urgency: str
    topic: str
    vapid_ok: bool
    vapid_key: str  # the "k" of the Authorization header
    claims: dict[str, Any]  # the JWT's claims once its signature checked out
    payload: Any  # the decrypted body as JSON (None when it is not JSON or not readable)
    text: str  # the decrypted body as text
    error: str  # why the push was refused, or why the device could not read it


class PushState(Protocol):
    push: "PushService"


class PushService:
    """The fake push service's state: its devices (subscriptions) and what reached them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: dict[str, _Device] = {}
        self._deliveries: list[PushDelivery] = []

    def subscribe(
        self, base_url: str, *, script: str = "", application_server_key: str | None = None
    ) -> FakeSubscription:
        """A new subscription under ``base_url``, as a browser would get from its vendor.

        ``script`` ("gone", "missing", "busy") picks a scripted answer; with
        ``application_server_key`` the fake refuses pushes signed by any other key (403), as
        real push services do.
        """
        if script and script not in SCRIPTS:
            raise ValueError(f"script is one of {sorted(SCRIPTS)}")
        token = secrets.token_urlsafe(24)
        endpoint = f"{base_url.rstrip('/')}/push/{token}" + (f"/{script}" if script else "")
        key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        with self._lock:
            self._devices[token] = _Device(endpoint, key, auth, application_server_key)
        return FakeSubscription(endpoint, _b64url(_raw_point(key.public_key())), _b64url(auth))

    @property
    def deliveries(self) -> list[PushDelivery]:
        with self._lock:
            return copy.deepcopy(self._deliveries)

    def shown(self) -> list[Any]:
        """The notifications the devices decrypted, oldest first (what a phone would show)."""
        return [d["payload"] for d in self.deliveries if d["status"] == 201 and not d["error"]]

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()

    # handling

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> Outcome | None:
        match = PUSH_PATH.match(path)
        if match is None:
            return None
        with self._lock:
            device = self._devices.get(match["token"])
        record = PushDelivery(
            time=utc_now().isoformat(),
            endpoint=device.endpoint if device else path,
            status=0,
            message_id="",
            ttl=None,
            urgency=headers.get("urgency", ""),
            topic=headers.get("topic", ""),
            vapid_ok=False,
            vapid_key="",
            claims={},
            payload=None,
            text="",
            error="",
        )
        reply = self._answer(method, match["script"] or "", device, headers, raw, record)
        record["status"] = reply.status
        if reply.status >= 400 and not record["error"]:
            record["error"] = str((reply.payload or {}).get("message", ""))
        with self._lock:
            self._deliveries.append(record)
        summary = snippet(record["text"]) if record["text"] else record["error"]
        return Outcome(
            reply, "push", json=record["payload"], auth_ok=record["vapid_ok"], summary=summary
        )

    def _answer(
        self,
        method: str,
        script: str,
        device: _Device | None,
        headers: Mapping[str, str],
        raw: bytes,
        record: PushDelivery,
    ) -> Reply:
        if method != "POST":
            return _error(405, "Push with POST.")
        if device is None:
            return _error(410, "No such subscription (it expired or was unsubscribed).")
        problem, status = self._vapid_check(device, headers, record)
        if problem:
            return _error(status, problem)
        if script == "gone":
            return _error(410, "The subscription has expired.")
        if script == "missing":
            return _error(404, "No such subscription.")
        if script == "busy":
            reply = _error(429, "Too many messages for this subscription.")
            reply.headers["Retry-After"] = "30"
            return reply
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            return _error(400, "The TTL header is required (RFC 8030 §5.2).")
        record["ttl"] = int(ttl)
        if record["urgency"] and record["urgency"] not in {"very-low", "low", "normal", "high"}:
            return _error(400, "Urgency is very-low, low, normal or high.")
        if raw and headers.get("content-encoding", "") != "aes128gcm":
            return _error(415, "Content-Encoding must be aes128gcm (RFC 8291).")
        if len(raw) > MAX_PAYLOAD:
            return _error(413, f"The payload is over {MAX_PAYLOAD} bytes.")
        self._read(device, raw, record)
        record["message_id"] = secrets.token_urlsafe(16)
        origin = _origin(device.endpoint)
        location = f"{origin}/push/message/{record['message_id']}"
        return Reply(201, None, {"Location": location, "TTL": ttl})

    def _vapid_check(
        self, device: _Device, headers: Mapping[str, str], record: PushDelivery
    ) -> tuple[str, int]:
        """Why the Authorization header fails (and the status), or ("", 0)."""
        scheme, _, params = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            return "Authorization: vapid t=<JWT>, k=<key> is required (RFC 8292).", 401
        parts = dict(
            item.strip().split("=", 1) for item in params.split(",") if "=" in item.strip()
        )
        token, key_text = parts.get("t", ""), parts.get("k", "")
        record["vapid_key"] = key_text
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), _b64url_decode(key_text)
            )
            head_b64, claims_b64, signature_b64 = token.split(".")
            head = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, binascii.Error):
            return "The VAPID token or key is malformed.", 401
        if head.get("alg") != "ES256" or len(signature) != 64:
            return "The VAPID token must be ES256.", 401
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            key.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "The VAPID signature does not verify with k.", 401
        if not isinstance(claims, dict):
            return "The VAPID claims are not an object.", 401
        record["claims"] = claims
        now = time.time()
        if claims.get("aud") != _origin(device.endpoint):
            return f"aud must be {_origin(device.endpoint)}.", 401
        exp = claims.get("exp")
        if not isinstance(exp, int) or not now < exp <= now + MAX_JWT_LIFETIME:
            return "exp must be in the future, at most 24 hours ahead.", 401
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            return "sub must be a mailto: or https: URI.", 401
        if device.application_server_key and key_text.rstrip("=") != (
            device.application_server_key.rstrip("=")
        ):
            return "This subscription was made for another applicationServerKey.", 403
        record["vapid_ok"] = True
        return "", 0

    def _read(self, device: _Device, raw: bytes, record: PushDelivery) -> None:
        """Decrypt as the browser would; a body it cannot read is kept as an error."""
        if not raw:
            return
        try:
            plain = http_ece.decrypt(
                raw, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm"
            )
        except (http_ece.ECEException, InvalidTag, ValueError) as exc:
            record["error"] = f"the device could not decrypt the push: {exc!r}"[:300]
            return
        record["text"] = plain.decode(errors="replace")
        try:
            record["payload"] = json.loads(plain)
        except ValueError:
            record["payload"] = None


def handle(
    state: PushState, method: str, path: str, headers: Mapping[str, str], raw: bytes
) -> Outcome | None:
    """Answer a request under /push/; None if the path is not the push service's."""
    return state.push.handle(method, path, headers, raw)


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def _error(status: int, message: str) -> Reply:
    # Shaped like Mozilla autopush's error bodies.
    return Reply(status, {"code": status, "errno": 0, "error": "", "message": message})
