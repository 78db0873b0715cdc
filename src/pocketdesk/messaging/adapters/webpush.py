"""Web push (RFC 8030) with VAPID (RFC 8292) through `pywebpush`: a notification to one of the
customer's browser subscriptions, encrypted for it (aes128gcm, RFC 8291).

The keys are the server's (`PD_VAPID_*` settings); a webpush channel row holds no secret and
only switches the channel on. A subscription is a customers contact point (value: the endpoint
URL; data: p256dh, auth). A push service answering 404/410 has forgotten the subscription: it
is retired and the message fails with `push_gone`.

`find_sent` always answers None: a push service has no look-up of the messages it accepted.
After an interrupted attempt the notification is sent again under the same `tag` (the outbound
message's id unless the sender chose one), and a browser shows a notification that has the tag
of one already shown in its place, so the customer still sees it once."""

import json
import logging
import secrets
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from pocketdesk.core.errors import NotFound, ValidationFailed
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import ContactPoint
from pocketdesk.customers.services import push_subscription_remove
from pocketdesk.messaging.adapters import Parsed, SendError
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent, Outbound

logger = logging.getLogger(__name__)

DEFAULT_ADDRESS = "webpush"
DEFAULT_URL = "/app/conversations/"
# How long the push service keeps a message for a device that is offline (seconds).
DEFAULT_TTL = 24 * 3600
MAX_TTL = 28 * 24 * 3600  # the longest FCM, Mozilla and Apple keep one
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
# What a notification shows in a line or three; the push service takes at most 4096 encrypted
# bytes, about 3,990 of JSON.
MAX_TITLE = 80
MAX_BODY = 240
MAX_URL = 1000
TIMEOUT = (5.0, 10.0)  # connect, read
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@cache
def _vapid(private_key: str) -> Vapid:
    return Vapid.from_string(private_key=private_key)


def push_payload(outbound: Outbound) -> dict[str, str]:
    """What the service worker shows: {"title", "body", "url", "tag"}."""
    extra: Mapping[str, Any] = outbound.extra or {}
    url = str(extra.get("url") or DEFAULT_URL)
    return {
        "title": _truncate(str(extra.get("title") or settings.PD_SITE_NAME), MAX_TITLE),
        "body": _truncate(outbound.text, MAX_BODY),
        "url": url if len(url) <= MAX_URL else DEFAULT_URL,
        "tag": str(extra.get("tag") or outbound.public_id)[:100],
    }


def _subscription(outbound: Outbound) -> ContactPoint | None:
    points = ContactPoint.objects.select_related("customer").filter(kind=ContactKind.WEBPUSH)
    if outbound.contact_point_id is not None:
        return points.filter(pk=outbound.contact_point_id).first()
    return points.filter(value=outbound.recipient).first()


def _retire(point: ContactPoint, status: int) -> None:
    try:
        push_subscription_remove(
            actor=None, customer=point.customer, endpoint=point.value, reason="gone"
        )
    except NotFound:
        return  # removed meanwhile (the customer turned it off, or another send retired it)
    logger.info(
        "messaging.webpush.retired", extra={"contact_point": point.public_id, "status": status}
    )


def _session(endpoint: str) -> requests.Session:
    session = requests.Session()
    # A push service on this machine (the fake, in tests and the demo) is never reached
    # through HTTP(S)_PROXY.
    session.trust_env = urlsplit(endpoint).hostname not in LOOPBACK_HOSTS
    return session


def _ttl(extra: Mapping[str, Any]) -> int:
    try:
        ttl = int(extra.get("ttl", DEFAULT_TTL))
    except (TypeError, ValueError):
        ttl = DEFAULT_TTL
    return max(0, min(ttl, MAX_TTL))


class WebPushAdapter:
    kind: str = ChannelKind.WEBPUSH.value

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        if not settings.PD_VAPID_PRIVATE_KEY:
            raise ValidationFailed(
                "Web push needs PD_VAPID_PRIVATE_KEY (`pocketdesk vapid-keys` makes a pair).",
                code="push_unavailable",
            )
        if credentials:
            raise ValidationFailed(
                "A web push channel has no credentials: the VAPID keys are settings.",
                field="credentials",
            )
        return (address.strip() or DEFAULT_ADDRESS)[:200], {}

    def parse(self, event: InboundEvent) -> list[Parsed]:
        return []  # push is one-way: nothing comes back on this channel

    def send(self, channel: Channel, outbound: Outbound) -> str:
        if not settings.PD_VAPID_PRIVATE_KEY:
            raise SendError("push_unavailable", "PD_VAPID_PRIVATE_KEY is not set.", retryable=False)
        point = _subscription(outbound)
        if point is None:
            raise SendError("push_gone", "The push subscription was removed.", retryable=False)
        extra: Mapping[str, Any] = outbound.extra or {}
        urgency = str(extra.get("urgency") or "normal")
        payload = json.dumps(push_payload(outbound), ensure_ascii=False, separators=(",", ":"))
        session = _session(point.value)
        try:
            response = webpush(
                subscription_info={
                    "endpoint": point.value,
                    "keys": {"p256dh": point.data.get("p256dh"), "auth": point.data.get("auth")},
                },
                data=payload,
                vapid_private_key=_vapid(settings.PD_VAPID_PRIVATE_KEY),
                vapid_claims={"sub": settings.PD_VAPID_SUBJECT},
                ttl=_ttl(extra),
                headers={"Urgency": urgency if urgency in URGENCIES else "normal"},
                timeout=TIMEOUT,
                requests_session=session,
            )
        except WebPushException as exc:
            status = exc.status_code
            if status is None:  # refused before sending: the stored keys are unusable
                raise SendError("push_invalid_subscription", exc.message, retryable=False) from exc
            if status in {404, 410}:
                _retire(point, status)
                raise SendError(
                    "push_gone",
                    f"The push service answered {status}: the subscription has ended.",
                    retryable=False,
                ) from exc
            if status == 413:
                raise SendError(
                    "push_payload_too_large", "The push service refused the size.", retryable=False
                ) from exc
            # Only the status: the body of an arbitrary endpoint is not shown to staff.
            detail = f"The push service answered {status}."
            raise SendError(f"push_{status}", detail, retryable=status in RETRYABLE_HTTP) from exc
        except requests.RequestException as exc:
            raise SendError("provider_unreachable", str(exc)[:300], retryable=True) from exc
        except (ValueError, TypeError) as exc:  # keys that are not base64 or not a P-256 point
            raise SendError("push_invalid_subscription", str(exc)[:300], retryable=False) from exc
        finally:
            session.close()
        location = response.headers.get("Location", "") if not isinstance(response, str) else ""
        return location if 0 < len(location) <= 200 else "push_" + secrets.token_hex(12)

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        """None: a push service cannot be asked what it accepted (see the module docstring)."""
        return None


ADAPTER = WebPushAdapter()
