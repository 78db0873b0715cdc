"""Social mentions on X (Account Activity API style): CRC and signature checks, public mentions
parsed into messages, and public replies through ``POST /2/tweets``.

Webhook URL: ``/webhooks/social?channel=<channel public id>``, registered with X once per channel
(the CRC ``GET`` carries no body, so the query parameter is what names the channel; the same one
identifies the POSTs). ``for_user_id`` is the subscribed account: tweets by it are our own and
are ignored, and so are plain retweets.

A reply answers the latest stored mention of the customer on this channel (or
``outbound.extra["in_reply_to"]`` when the caller sets it), so the customer sees it under their
tweet. A reply longer than 280 (weighted, as X counts) fails at once with ``too_long``: the agent
then moves the customer to a private channel (``social_private_invite_text``); nothing is cut.

``find_sent`` returns None: X's API has no idempotency key and no cheap look-up by text, so a send
that a crash interrupted is tried again. X itself refuses an identical tweet ("duplicate content"),
which then fails the row with ``x_duplicate`` rather than posting twice."""

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Mapping
from typing import Any

import httpx
from django.utils import translation
from django.utils.translation import gettext

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Customer
from pocketdesk.messaging.adapters import Parsed, ParsedMessage, SendError
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent, Outbound

DEFAULT_API_BASE = "https://api.x.com"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
# The InboundEvent kind of one stored mention (a webhook may carry several tweets).
MENTION_KIND = "mention"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_WEIGHTED_LENGTH = 280
# twitter-text v3: a link counts 23 whatever its length; these code points weigh 1, others 2.
URL_LENGTH = 23
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@?([A-Za-z0-9_]{1,15})")
_LEADING_MENTION = re.compile(r"^\s*@([A-Za-z0-9_]{1,15})\b\s*")
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
MAX_MEDIA = 4


def handle_normalize(raw: str) -> str:
    """``@screen_name`` in lower case: X screen names are unique regardless of case."""
    match = _HANDLE.fullmatch(raw.strip())
    if match is None:
        raise ValidationFailed(
            "An X handle is @ and 1 to 15 letters, digits or underscores.", field="handle"
        )
    return "@" + match.group(1).lower()


def _digest(secret: str, message: bytes) -> str:
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def crc_response_token(channel: Channel, crc_token: str) -> str | None:
    """X's challenge answer; None when the channel has no consumer secret."""
    secret = str(channel.credentials.get("consumer_secret") or "")
    return _digest(secret, crc_token.encode()) if secret else None


def signature_valid(channel: Channel, body: bytes, signature: str) -> bool:
    secret = str(channel.credentials.get("consumer_secret") or "")
    if not secret or not signature:
        return False
    return hmac.compare_digest(_digest(secret, body).encode(), signature.encode())


def mentions(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tweets of a verified webhook that a customer wrote to us: not our own tweets (X
    sends those too, our replies included), not plain retweets, and each with an id."""
    ours = str(payload.get("for_user_id") or "")
    events = payload.get("tweet_create_events")
    found = []
    for tweet in events if isinstance(events, list) else []:
        if not isinstance(tweet, dict) or not tweet.get("id_str"):
            continue
        user = tweet.get("user")
        if not isinstance(user, dict) or not user.get("screen_name"):
            continue
        if str(user.get("id_str")) == ours or "retweeted_status" in tweet:
            continue
        found.append(tweet)
    return found


def mention_payload(payload: Mapping[str, Any], tweet: Mapping[str, Any]) -> dict[str, Any]:
    """One mention kept in X's own webhook shape, so a stored event reads like what X sent."""
    kept: dict[str, Any] = {"for_user_id": str(payload.get("for_user_id") or "")}
    if "user_has_blocked" in payload:
        kept["user_has_blocked"] = payload["user_has_blocked"]
    kept["tweet_create_events"] = [dict(tweet)]
    return kept


def _full_text(tweet: Mapping[str, Any]) -> tuple[str, int]:
    """The untruncated text and where its display part starts (after auto-added @mentions)."""
    extended = tweet.get("extended_tweet")
    source: Mapping[str, Any] = extended if isinstance(extended, dict) else tweet
    text = str(source.get("full_text") or tweet.get("full_text") or tweet.get("text") or "")
    shown = source.get("display_text_range") or tweet.get("display_text_range")
    start = 0
    if isinstance(shown, list) and shown and isinstance(shown[0], int):
        start = max(0, min(shown[0], len(text)))
    return text, start


def _text_without_handle(tweet: Mapping[str, Any], own_handle: str) -> str:
    text, start = _full_text(tweet)
    text = html.unescape(text[start:])  # X escapes &, < and > in tweet text
    match = _LEADING_MENTION.match(text)
    if match and "@" + match.group(1).lower() == own_handle:
        text = text[match.end() :]
    return text.strip()


def _media(tweet: Mapping[str, Any]) -> list[dict[str, Any]]:
    extended = tweet.get("extended_tweet")
    holder: Mapping[str, Any] = extended if isinstance(extended, dict) else tweet
    entities = holder.get("extended_entities") or tweet.get("extended_entities") or {}
    items = entities.get("media") if isinstance(entities, dict) else None
    media = []
    for item in items if isinstance(items, list) else []:
        url = item.get("media_url_https") if isinstance(item, dict) else None
        if url:
            kind = "image/jpeg" if item.get("type") == "photo" else "video/mp4"
            media.append({"url": str(url), "content_type": kind})
    return media[:MAX_MEDIA]


def tweet_length(text: str) -> int:
    """The length X counts (twitter-text v3): links 23, CJK and emoji code points 2."""
    length = 0
    position = 0
    for link in _URL.finditer(text):
        length += _weighted(text[position : link.start()]) + URL_LENGTH
        position = link.end()
    return length + _weighted(text[position:])


def _weighted(text: str) -> int:
    return sum(
        1 if any(low <= ord(char) <= high for low, high in _LIGHT_RANGES) else 2 for char in text
    )


def social_private_invite_text(customer: Customer, link: str) -> str:
    """A short public reply asking the customer to continue privately at `link` (the app, a
    secure chat link): account details never go in a public tweet. Sent like any reply, it stays
    in the same thread, since the conversation belongs to the same customer."""
    with translation.override(customer.language or None):
        return gettext(
            "Thanks for reaching out! So we can look at your account privately, please "
            "continue here: %(link)s"
        ) % {"link": link}


class SocialAdapter:
    kind: str = ChannelKind.SOCIAL.value

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        handle = handle_normalize(address)
        if not credentials.get("consumer_secret"):
            raise ValidationFailed(
                "The consumer secret is required to verify webhooks.", field="consumer_secret"
            )
        if not credentials.get("bearer_token"):
            raise ValidationFailed(
                "A user access token (tweet.write) is required to reply.", field="bearer_token"
            )
        return handle, {
            "consumer_secret": str(credentials["consumer_secret"]),
            "bearer_token": str(credentials["bearer_token"]),
        }

    def parse(self, event: InboundEvent) -> list[Parsed]:
        payload: Mapping[str, Any] = event.payload
        if str(payload.get("user_has_blocked", "")).lower() == "true":
            return []  # X tells us our account blocked this user: nothing to answer
        own_handle = event.channel.address
        parsed: list[Parsed] = []
        for tweet in mentions(payload):
            user = tweet["user"]
            reply_to = str(tweet.get("in_reply_to_status_id_str") or "")
            media = _media(tweet)
            text = _text_without_handle(tweet, own_handle)
            parsed.append(
                ParsedMessage(
                    sender_kind=ContactKind.SOCIAL,
                    sender=handle_normalize(str(user["screen_name"])),
                    provider_id=str(tweet["id_str"]),
                    text=text,
                    kind=MENTION_KIND,
                    media=media,
                    data={
                        "public": True,
                        "tweet_id": str(tweet["id_str"]),
                        "in_reply_to_status_id": reply_to or None,
                    },
                    references=(reply_to,) if reply_to else (),
                    sender_name=str(user.get("name") or ""),
                )
            )
        return parsed

    def _in_reply_to(self, channel: Channel, outbound: Outbound) -> str | None:
        """The tweet to answer: the caller's choice, else the customer's latest mention here."""
        chosen = outbound.extra.get("in_reply_to")
        if chosen:
            return str(chosen)
        screen_name = outbound.recipient.lstrip("@")
        event = (
            InboundEvent.objects.filter(channel=channel, kind=MENTION_KIND)
            .exclude(state=InboundEvent.State.FAILED)
            .filter(payload__tweet_create_events__0__user__screen_name__iexact=screen_name)
            .order_by("-received_at", "-pk")
            .first()
        )
        return event.provider_event_id if event is not None else None

    def send(self, channel: Channel, outbound: Outbound) -> str:
        handle = outbound.recipient
        text = outbound.text.strip()
        if not text.lower().startswith(handle.lower()):
            text = f"{handle} {text}"
        links = [str(item["url"]) for item in outbound.media if item.get("url")]
        if links:
            text = " ".join([text, *links])
        if tweet_length(text) > MAX_WEIGHTED_LENGTH:
            raise SendError(
                "too_long",
                f"A public reply has at most {MAX_WEIGHTED_LENGTH} characters with the "
                f"{handle} mention ({tweet_length(text)} here): invite the customer to a "
                "private channel instead.",
                retryable=False,
            )
        body: dict[str, Any] = {"text": text}
        reply_to = self._in_reply_to(channel, outbound)
        if reply_to:
            body["reply"] = {"in_reply_to_tweet_id": reply_to}
        base = (channel.api_base or DEFAULT_API_BASE).rstrip("/")
        token = str(channel.credentials.get("bearer_token") or "")
        try:
            response = httpx.post(
                f"{base}/2/tweets",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise SendError("provider_unreachable", str(exc)[:300], retryable=True) from exc
        if response.status_code in (200, 201):
            try:
                return str(response.json()["data"]["id"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SendError("x_bad_response", response.text[:300], retryable=True) from exc
        raise _send_error(response)

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        return None  # see the module docstring


def _send_error(response: httpx.Response) -> SendError:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    errors = problem.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    detail = str(
        problem.get("detail") or first.get("message") or problem.get("title") or response.text
    )[:300]
    status = response.status_code
    if status == 401:
        code = "x_unauthorized"
    elif status == 403 and "duplicate" in detail.lower():
        code = "x_duplicate"
    else:
        code = f"x_{status}"
    return SendError(code, detail, retryable=status in RETRYABLE_HTTP)


ADAPTER = SocialAdapter()
