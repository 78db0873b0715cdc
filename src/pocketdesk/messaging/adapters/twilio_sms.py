"""Twilio Programmable Messaging (SMS/MMS): webhook signatures, inbound and status parsing, and
sending through the Messages REST resource.

After an interrupted send, Twilio is asked for the messages sent from our number to the
recipient since the attempt began (`GET Messages.json?To=&From=&DateSent>=`); one with the same
body that no other outbound row claims is ours. Twilio's API has no idempotency key, so this
look-up is what keeps a retry from texting the customer twice.

The files of an inbound MMS are downloaded while its event is processed (with the account's
Basic auth, which Twilio requires when HTTP authentication for media is on) and kept by
messaging.media; one that cannot be had is listed, with Twilio's URL, never failing the event."""

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.services import phone_normalize
from pocketdesk.messaging.adapters import Parsed, ParsedMessage, ParsedStatus, SendError
from pocketdesk.messaging.media import (
    FetchedMedia,
    content_type_clean,
    media_fetch,
    media_kind,
    media_store,
)
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent, Outbound

API_VERSION = "2010-04-01"
DEFAULT_API_BASE = "https://api.twilio.com"
STATUS_PATH = "/webhooks/twilio/status"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_MEDIA = 10
# Carrier keywords (CTIA): opt-out, opt-in and help.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "AIDE"})
# Twilio's MessageStatus → ours. "accepted"/"scheduled"/"sending" add nothing to "sending".
STATUSES = {
    "queued": Outbound.Status.SENDING,
    "sent": Outbound.Status.SENT,
    "delivered": Outbound.Status.DELIVERED,
    "read": Outbound.Status.READ,
    "undelivered": Outbound.Status.UNDELIVERED,
    "failed": Outbound.Status.FAILED,
}
# Errors worth trying again: rate limits and Twilio-side trouble. 4xx otherwise are final.
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})


def public_url(request: HttpRequest) -> str:
    """The URL Twilio called: our public origin (not the Host header) and the path and query."""
    return settings.PD_PUBLIC_URL + request.get_full_path()


def signature_valid(request: HttpRequest, channel: Channel) -> bool:
    token = str(channel.credentials.get("auth_token") or "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    params = {key: request.POST.get(key, "") for key in request.POST}
    return bool(RequestValidator(token).validate(public_url(request), params, signature))


def keyword(text: str) -> str | None:
    word = text.strip().upper().rstrip(".!")
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def _media(params: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (MediaUrl, MediaContentType) pairs of an MMS."""
    raw_count = params.get("NumMedia") or "0"
    count = min(int(raw_count), MAX_MEDIA) if raw_count.isdigit() else 0
    return [
        (params.get(f"MediaUrl{i}", ""), params.get(f"MediaContentType{i}", ""))
        for i in range(count)
        if params.get(f"MediaUrl{i}")
    ]


def media_url_trusted(channel: Channel, url: str) -> bool:
    """Whether the channel's credentials may go with a MediaUrl: Twilio's own API (HTTP auth
    for media), or the channel's API base (a fake, a proxy)."""
    target = urlsplit(url)
    base = urlsplit(channel.api_base or DEFAULT_API_BASE)
    if (target.scheme, target.netloc) == (base.scheme, base.netloc):
        return True
    host = target.hostname or ""
    return target.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com"))


class TwilioSmsAdapter:
    kind: str = ChannelKind.TWILIO_SMS.value

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        number = phone_normalize(address)
        if not str(credentials.get("account_sid", "")).startswith("AC"):
            raise ValidationFailed("A Twilio account SID starts with AC.", field="account_sid")
        if not credentials.get("auth_token"):
            raise ValidationFailed(
                "The auth token is required to verify webhooks.", field="auth_token"
            )
        return number, {
            "account_sid": str(credentials["account_sid"]),
            "auth_token": str(credentials["auth_token"]),
        }

    def parse(self, event: InboundEvent) -> list[Parsed]:
        params: Mapping[str, str] = event.payload
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        if event.kind == "status":
            status = STATUSES.get(params.get("MessageStatus", ""))
            if status is None:
                return []
            return [
                ParsedStatus(provider_id=sid, status=status, error_code=params.get("ErrorCode", ""))
            ]
        text = params.get("Body", "")
        media = [
            self._media_keep(event.channel, sid, index, url, declared)
            for index, (url, declared) in enumerate(_media(params))
        ]
        return [
            ParsedMessage(
                sender_kind=ContactKind.PHONE,
                sender=params.get("From", ""),
                provider_id=sid,
                text=text,
                kind=media_kind(media) if media and not text else "text",
                media=media,
                keyword=keyword(text),
            )
        ]

    def _media_keep(
        self, channel: Channel, sid: str, index: int, url: str, declared: str
    ) -> dict[str, Any]:
        """Download an MMS file from Twilio and keep it (messaging.media), or list it as
        too large, blocked or unavailable; the item keeps Twilio's URL as `source_url`."""
        auth = self._auth(channel) if media_url_trusted(channel, url) else None
        fetched = media_fetch(url, auth=auth, content_type=declared)
        if isinstance(fetched, FetchedMedia):
            item = media_store(
                data=fetched.data,
                name=fetched.name,
                content_type=fetched.content_type,
                key=sid,
                index=index,
            )
        else:
            item = {"content_type": content_type_clean(declared), **fetched}
        return {**item, "source_url": url}

    def _messages_url(self, channel: Channel) -> str:
        base = (channel.api_base or DEFAULT_API_BASE).rstrip("/")
        return f"{base}/{API_VERSION}/Accounts/{channel.credentials['account_sid']}/Messages.json"

    def _auth(self, channel: Channel) -> tuple[str, str]:
        return (str(channel.credentials["account_sid"]), str(channel.credentials["auth_token"]))

    def send(self, channel: Channel, outbound: Outbound) -> str:
        with httpx.Client(timeout=TIMEOUT) as client:
            return self._send(client, channel, outbound)

    def send_many(
        self, channel: Channel, outbounds: Sequence[Outbound], *, deadline: float | None = None
    ) -> Iterator[str | SendError]:
        """One HTTP client (kept-alive connections) for a batch: making one per message cost
        more than the request itself (see BatchSender)."""
        with httpx.Client(timeout=TIMEOUT) as client:
            for index, outbound in enumerate(outbounds):
                if index and deadline is not None and time.monotonic() > deadline:
                    return
                try:
                    yield self._send(client, channel, outbound)
                except SendError as exc:
                    yield exc

    def _send(self, client: httpx.Client, channel: Channel, outbound: Outbound) -> str:
        form: dict[str, str | list[str]] = {
            "To": outbound.recipient,
            "From": channel.address,
            "Body": outbound.text,
            "StatusCallback": settings.PD_PUBLIC_URL + STATUS_PATH,
        }
        media = [str(item["url"]) for item in outbound.media if item.get("url")]
        if media:
            form["MediaUrl"] = media
        try:
            response = client.post(self._messages_url(channel), data=form, auth=self._auth(channel))
        except httpx.HTTPError as exc:
            raise SendError("provider_unreachable", str(exc)[:300], retryable=True) from exc
        if response.status_code == 201:
            return str(response.json()["sid"])
        retryable = response.status_code in RETRYABLE_HTTP
        try:
            body = response.json()
            code, detail = str(body.get("code", response.status_code)), str(body.get("message"))
        except ValueError:
            code, detail = str(response.status_code), response.text[:300]
        raise SendError(f"twilio_{code}", detail[:300], retryable=retryable)

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        started = outbound.attempt_started_at or outbound.created_at
        # DateSent>= is a day filter (UTC); allow for a clock slightly behind Twilio's.
        since = started - timedelta(minutes=5)
        params = {"To": outbound.recipient, "From": channel.address}
        params["DateSent>"] = since.strftime("%Y-%m-%d")
        claimed = set(
            Outbound.objects.filter(channel=channel, provider_id__isnull=False)
            .exclude(pk=outbound.pk)
            .filter(recipient=outbound.recipient, created_at__gte=since)
            .values_list("provider_id", flat=True)
        )
        url: str | None = self._messages_url(channel)
        query: dict[str, str] | None = params
        while url:
            try:
                response = httpx.get(url, params=query, auth=self._auth(channel), timeout=TIMEOUT)
                response.raise_for_status()
                page = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SendError("provider_unreachable", str(exc)[:300], retryable=True) from exc
            for message in page.get("messages", []):
                created = parsedate_to_datetime(message.get("date_created") or "")
                if (
                    message.get("body") == outbound.text
                    and message.get("sid") not in claimed
                    and created >= since
                ):
                    return str(message["sid"])
            next_uri = page.get("next_page_uri")
            base = (channel.api_base or DEFAULT_API_BASE).rstrip("/")
            url, query = (base + next_uri, None) if next_uri else (None, None)
        return None


ADAPTER = TwilioSmsAdapter()
