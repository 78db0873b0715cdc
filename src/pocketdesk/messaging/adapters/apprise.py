"""Outbound-only channels through Apprise: one channel per Apprise URL (Slack, Telegram, ntfy,
Discord, Matrix, a JSON/form webhook, …). The URL names the target and usually holds a token, so
it is a secret: kept in the credentials and never shown back; the channel's address is only the
service's scheme and a keyed fingerprint of the URL (the same URL twice is one channel).

``outbound.recipient`` is informational: the URL already says where the message goes. Apprise
reports only success or failure (its log lines are the only detail, kept in the error detail),
so every failure is retried with backoff. ``find_sent`` returns None: no service can be asked
whether an earlier attempt arrived, so a send a crash interrupted may arrive twice."""

import logging
from collections.abc import Mapping
from typing import Any

import apprise
from apprise.manager_plugins import NotificationManager
from django.utils.crypto import salted_hmac

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.messaging.adapters import Parsed, SendError
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent, Outbound

logger = logging.getLogger(__name__)

# Apprise's own socket timeouts are 4 s connect and 4 s read; this bounds the whole call.
TIMEOUT_SECONDS = 15
MAX_URL = 2000
MAX_TITLE = 250


def _asset() -> apprise.AppriseAsset:
    # One service per send: no thread pool needed; no retries of its own (the outbox retries).
    return apprise.AppriseAsset(app_id="pocketdesk", app_desc="pocketdesk", async_mode=False)


def url_check(url: str) -> apprise.Apprise:
    """An Apprise holding exactly this one service; ValidationFailed otherwise. Never puts the
    URL in an error: it may hold a token."""
    url = url.strip()
    invalid = ValidationFailed(
        "Apprise cannot use this URL (unknown service, missing token or malformed).",
        field="url",
        code="apprise_url_invalid",
    )
    if not url or len(url) > MAX_URL or any(char.isspace() or char == "," for char in url):
        raise invalid  # Apprise would read several URLs from one string
    if _scheme(url) not in NotificationManager().schemas():
        raise invalid  # checked first: Apprise logs an unknown scheme's URL in full
    service = apprise.Apprise.instantiate(url, asset=_asset())
    if service is None or not getattr(service, "enabled", True):
        raise invalid
    notifier = apprise.Apprise(asset=_asset())
    if not notifier.add(service) or len(notifier) != 1:
        raise invalid
    return notifier


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _address(url: str) -> str:
    fingerprint = salted_hmac("pocketdesk.messaging.apprise", url, algorithm="sha256").hexdigest()[
        :16
    ]
    return f"{_scheme(url)}:{fingerprint}"


class AppriseAdapter:
    kind: str = ChannelKind.APPRISE.value

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        """`address` is ignored: the URL is the target, and the address is derived from it."""
        url = str(credentials.get("url") or "").strip()
        url_check(url)
        return _address(url), {"url": url}

    def parse(self, event: InboundEvent) -> list[Parsed]:
        return []  # outbound only: no webhook reaches an Apprise channel

    def send(self, channel: Channel, outbound: Outbound) -> str:
        url = str(channel.credentials.get("url") or "")
        try:
            notifier = url_check(url)
        except ValidationFailed as exc:
            raise SendError("apprise_url_invalid", exc.detail, retryable=False) from exc
        title = str(outbound.extra.get("title") or outbound.extra.get("subject") or "")
        links = [str(item["url"]) for item in outbound.media if item.get("url")]
        body = "\n".join([outbound.text, *links]) if links else outbound.text
        lines: list[str] = []

        def keep(entry: Any, _service: Any = None) -> None:
            if str(getattr(entry, "level", "")).upper() in {"WARNING", "ERROR", "CRITICAL"}:
                lines.append(str(getattr(entry, "message", entry)))

        result = notifier.notify(
            body=body or " ",
            title=title[:MAX_TITLE],
            timeout=TIMEOUT_SECONDS,
            log_callback=keep,
        )
        if result:
            return outbound.public_id
        detail = " ".join(lines).replace(url, "[url]")[:300] or "Apprise reported a failure."
        logger.warning(
            "messaging.apprise.failed",
            extra={"outbound": outbound.public_id, "channel": channel.public_id, "detail": detail},
        )
        raise SendError("apprise_failed", detail, retryable=True)

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        return None  # see the module docstring


ADAPTER = AppriseAdapter()
