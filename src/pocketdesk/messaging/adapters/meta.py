"""Meta channels — WhatsApp Cloud API, Messenger and Instagram: webhook signatures and the
batch split, parsing stored events into messages and receipts, and sending through the Graph API.

One webhook URL serves all three: Meta signs each POST with the app secret
(`X-Hub-Signature-256`, HMAC-SHA256 of the raw body), and the payload names the channel (the
WhatsApp phone_number_id, or the Page / Instagram account id). The view splits a batch into one
stored event per message and per receipt (`webhook_split`).

After an interrupted send, the Graph API cannot be asked whether it has the message. WhatsApp
sends carry our outbound id as `biz_opaque_callback_data`, which Meta echoes in its status
webhooks: if a stored receipt carries it, that is our message (`find_sent`). Otherwise, and
always on Messenger/Instagram, the message is sent again: the customer may get it twice.

WhatsApp files (images, voice notes, documents…) are downloaded while their event is processed
and kept by messaging.media (`_whatsapp_media_keep`). Messenger/Instagram attachments keep the
provider's URL as it came."""

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.messaging.adapters import Parsed, ParsedMessage, ParsedStatus, SendError
from pocketdesk.messaging.adapters.twilio_sms import keyword
from pocketdesk.messaging.media import (
    MAX_MEDIA_BYTES,
    FetchedMedia,
    content_type_clean,
    media_fetch,
    media_store,
    media_unavailable,
)
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent, Outbound

GRAPH_VERSION = "v23.0"
DEFAULT_API_BASE = "https://graph.facebook.com"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SIGNATURE_HEADER = "X-Hub-Signature-256"
META_KINDS = (ChannelKind.WHATSAPP, ChannelKind.MESSENGER, ChannelKind.INSTAGRAM)
# The webhook `object` that names each kind's channels.
OBJECT_KIND = {
    "whatsapp_business_account": ChannelKind.WHATSAPP,
    "page": ChannelKind.MESSENGER,
    "instagram": ChannelKind.INSTAGRAM,
}
CONTACT_KIND = {
    ChannelKind.WHATSAPP: ContactKind.WHATSAPP,
    ChannelKind.MESSENGER: ContactKind.MESSENGER,
    ChannelKind.INSTAGRAM: ContactKind.INSTAGRAM,
}
# WhatsApp's customer-service window: free-form messages only within 24 h of the customer's last.
WHATSAPP_WINDOW = timedelta(hours=24)
WHATSAPP_STATUSES = {
    "sent": Outbound.Status.SENT,
    "delivered": Outbound.Status.DELIVERED,
    "read": Outbound.Status.READ,
    "failed": Outbound.Status.FAILED,
}
# Graph errors worth trying again: throttling (4 app, 17 user, 32 page, 613, 80007 WABA,
# 130429 throughput), temporary trouble (1, 2, 131000 unknown, 131016 service unavailable).
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016})
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
MAX_ID = 200


def whatsapp_window_closes_at(conversation_last_inbound_at: datetime | None) -> datetime | None:
    """When the 24-hour window the customer's last message opened closes; None if they never
    wrote (only a template may be sent)."""
    if conversation_last_inbound_at is None:
        return None
    return conversation_last_inbound_at + WHATSAPP_WINDOW


def whatsapp_window_open(
    conversation_last_inbound_at: datetime | None, *, now: datetime | None = None
) -> bool:
    """Whether free text may go to the customer now. A hint for the console only: the send does
    not refuse on it; Meta's answer (error 131047) is what fails a message."""
    closes = whatsapp_window_closes_at(conversation_last_inbound_at)
    return closes is not None and (now or clock.now()) < closes


# Webhooks: signature and batch split


def signature_valid(raw_body: bytes, header: str, app_secret: str) -> bool:
    """`X-Hub-Signature-256` over the raw bytes (Meta escapes non-ASCII and "/", so a
    re-serialised copy would not match), compared in constant time."""
    scheme, _, digest = header.partition("=")
    if scheme != "sha256" or not digest or not app_secret:
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    given = digest.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode(), given)


def verify_token_known(token: str) -> bool:
    """Whether an active Meta channel has this verify token (the subscription handshake)."""
    if not token:
        return False
    found = False
    channels = Channel.objects.filter(kind__in=META_KINDS, is_active=True).only("credentials")
    for channel in channels:
        expected = str(channel.credentials.get("verify_token") or "")
        # Every channel is compared, so the time taken does not say which one matched.
        found |= bool(expected) and hmac.compare_digest(expected.encode(), token.encode())
    return found


@dataclass(frozen=True)
class WebhookPiece:
    """One message or receipt out of a webhook batch, for the channel it names."""

    kind: str  # the channel kind
    address: str  # phone_number_id, Page id or Instagram account id
    event_kind: str  # "message" or "status"
    provider_event_id: str
    payload: dict[str, Any]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _id_of(value: Any) -> str:
    """The "id" of a {"id": …} party (a sender or recipient)."""
    return _text(value.get("id")) if isinstance(value, dict) else ""


def webhook_channels_named(payload: Any) -> set[tuple[str, str]]:
    """The (channel kind, address) pairs a webhook body names."""
    named: set[tuple[str, str]] = set()
    kind = OBJECT_KIND.get(_text(payload.get("object"))) if isinstance(payload, dict) else None
    if kind is None:
        return named
    for entry in _dicts(payload.get("entry")):
        if kind != ChannelKind.WHATSAPP:
            named.add((kind, _text(entry.get("id"))))
            continue
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            metadata = value.get("metadata") if isinstance(value, dict) else None
            if isinstance(metadata, dict):
                named.add((kind, _text(metadata.get("phone_number_id"))))
    return {(kind, address) for kind, address in named if address}


def webhook_split(payload: Any) -> list[WebhookPiece]:
    """One piece per message and per receipt in a webhook body, each with the part of the
    payload its parsing needs. Echoes of our own sends and unknown objects give nothing."""
    if not isinstance(payload, dict):
        return []
    obj = _text(payload.get("object"))
    kind = OBJECT_KIND.get(obj)
    if kind is None:
        return []
    pieces: list[WebhookPiece] = []
    for entry in _dicts(payload.get("entry")):
        if kind == ChannelKind.WHATSAPP:
            pieces.extend(_whatsapp_pieces(obj, entry))
        else:
            pieces.extend(_messenger_pieces(obj, kind, entry))
    return [piece for piece in pieces if piece.address and len(piece.provider_event_id) <= MAX_ID]


def _whatsapp_pieces(obj: str, entry: Mapping[str, Any]) -> Iterator[WebhookPiece]:
    for change in _dicts(entry.get("changes")):
        value = change.get("value")
        if not isinstance(value, dict):
            continue
        raw_metadata = value.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        address = _text(metadata.get("phone_number_id"))
        contacts = _dicts(value.get("contacts"))
        for message in _dicts(value.get("messages")):
            wamid, sender = _text(message.get("id")), _text(message.get("from"))
            if not wamid:
                continue
            own = [c for c in contacts if _text(c.get("wa_id")) == sender] or contacts[:1]
            yield WebhookPiece(
                ChannelKind.WHATSAPP,
                address,
                "message",
                wamid,
                {"object": obj, "metadata": metadata, "contacts": own, "message": message},
            )
        for status in _dicts(value.get("statuses")):
            wamid, state = _text(status.get("id")), _text(status.get("status"))
            if not wamid or not state:
                continue
            yield WebhookPiece(
                ChannelKind.WHATSAPP,
                address,
                "status",
                f"{wamid}:{state}",
                {"object": obj, "metadata": metadata, "status": status},
            )


def _messenger_pieces(obj: str, kind: str, entry: Mapping[str, Any]) -> Iterator[WebhookPiece]:
    address = _text(entry.get("id"))
    for event in _dicts(entry.get("messaging")):
        sender = _id_of(event.get("sender"))
        base = {"object": obj, "entry_id": address, "messaging": event}
        message = event.get("message")
        if isinstance(message, dict):
            if message.get("is_echo"):
                continue  # our own send, seen again
            mid = _text(message.get("mid"))
            if mid:
                yield WebhookPiece(kind, address, "message", mid, base)
        elif isinstance(event.get("postback"), dict):
            postback = event["postback"]
            mid = _text(postback.get("mid")) or f"postback:{sender}:{_text(event.get('timestamp'))}"
            yield WebhookPiece(kind, address, "message", mid, base)
        elif isinstance(event.get("delivery"), dict):
            mids = event["delivery"].get("mids")
            for mid in mids if isinstance(mids, list) else []:
                if isinstance(mid, str) and mid:
                    payload = {**base, "mid": mid, "status": "delivered"}
                    yield WebhookPiece(kind, address, "status", f"{mid}:delivered", payload)
        elif isinstance(event.get("read"), dict):
            read = event["read"]
            mid = _text(read.get("mid"))
            if mid:  # Instagram names the message read
                payload = {**base, "mid": mid, "status": "read"}
                yield WebhookPiece(kind, address, "status", f"{mid}:read", payload)
            elif _text(read.get("watermark")):  # Messenger: everything sent before the mark
                watermark = _text(read.get("watermark"))
                payload = {**base, "status": "read", "watermark": watermark}
                yield WebhookPiece(kind, address, "status", f"read:{sender}:{watermark}", payload)


# Parsing stored events


def _whatsapp_message(payload: Mapping[str, Any]) -> ParsedMessage | None:
    message: Mapping[str, Any] = payload.get("message") or {}
    wa_id = _text(message.get("from"))
    if not wa_id:
        return None
    name = ""
    for contact in _dicts(payload.get("contacts")):
        profile = contact.get("profile")
        if isinstance(profile, dict):
            name = _text(profile.get("name"))
    context = message.get("context")
    quoted = _text(context.get("id")) if isinstance(context, dict) else ""
    kind = _text(message.get("type")) or "text"
    part = message.get(kind)
    part = part if isinstance(part, dict) else {}
    text, parsed_kind = "", kind
    media: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    if kind == "text":
        text = _text(part.get("body"))
    elif kind in MEDIA_KINDS:
        media = [
            {
                "id": _text(part.get("id")),
                "url": _text(part.get("url")),
                "content_type": _text(part.get("mime_type")),
                "sha256": _text(part.get("sha256")),
                "filename": _text(part.get("filename")),
            }
        ]
        text = _text(part.get("caption"))
    elif kind == "location":
        data = {
            key: part.get(source)
            for key, source in (
                ("lat", "latitude"),
                ("long", "longitude"),
                ("name", "name"),
                ("address", "address"),
            )
            if part.get(source) is not None
        }
        text = _text(part.get("name")) or _text(part.get("address"))
    elif kind == "interactive":
        reply = part.get(_text(part.get("type")))
        reply = reply if isinstance(reply, dict) else {}
        data = {"id": _text(reply.get("id")), "title": _text(reply.get("title"))}
        if reply.get("description"):
            data["description"] = _text(reply.get("description"))
        text = data["title"]
    elif kind == "button":  # a template's quick-reply button
        parsed_kind = "interactive"
        data = {"id": _text(part.get("payload")), "title": _text(part.get("text"))}
        text = data["title"]
    elif kind == "reaction":
        data = {"emoji": _text(part.get("emoji")), "message_id": _text(part.get("message_id"))}
        quoted = quoted or data["message_id"]
        text = data["emoji"]
    else:  # contacts, order, unsupported, …: the agent sees that something arrived
        data = {"type": kind}
        parsed_kind = "unsupported"
    return ParsedMessage(
        sender_kind=ContactKind.WHATSAPP,
        sender="+" + wa_id.lstrip("+"),
        provider_id=_text(message.get("id")),
        text=text,
        kind=parsed_kind[:20],
        media=media,
        data=data,
        references=(quoted,) if quoted else (),
        sender_name=name,
        keyword=keyword(text) if kind == "text" else None,
    )


def _whatsapp_media_keep(
    channel: Channel, wamid: str, index: int, item: Mapping[str, Any]
) -> dict[str, Any]:
    """Download a WhatsApp file and keep it (messaging.media): Graph's ``GET /{media_id}`` gives
    a short-lived URL, fetched with the same Bearer token. A file that cannot be had is listed
    with its media id, marked unavailable; the event is never failed for it."""
    media_id = str(item.get("id") or "")
    declared = str(item.get("content_type") or "")
    reference = {key: item[key] for key in ("id", "sha256") if item.get(key)}
    missing = {
        **reference,
        "content_type": content_type_clean(declared),
        **({"name": item["filename"]} if item.get("filename") else {}),
    }
    token = str(channel.credentials.get("access_token") or "")
    if not media_id.isdigit() or not token:
        return {**missing, **media_unavailable("no media id to fetch")}
    headers = {"Authorization": f"Bearer {token}"}
    base = (channel.api_base or DEFAULT_API_BASE).rstrip("/")
    try:
        response = httpx.get(f"{base}/{GRAPH_VERSION}/{media_id}", headers=headers, timeout=TIMEOUT)
        info = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError) as exc:
        return {**missing, **media_unavailable(f"{type(exc).__name__}: {exc}")}
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str) or not url:
        return {**missing, **media_unavailable(f"Graph answered HTTP {response.status_code}")}
    size = info.get("file_size")
    if isinstance(size, int) and size > MAX_MEDIA_BYTES:
        return {**missing, "size": size, "too_large": True}
    declared = declared or _text(info.get("mime_type"))
    fetched = media_fetch(url, headers=headers, content_type=declared)
    if not isinstance(fetched, FetchedMedia):
        return {**missing, **fetched}
    stored = media_store(
        data=fetched.data,
        name=str(item.get("filename") or fetched.name),
        content_type=fetched.content_type,
        key=wamid,
        index=index,
    )
    return {**reference, **stored}


def _whatsapp_status(payload: Mapping[str, Any]) -> ParsedStatus | None:
    status: Mapping[str, Any] = payload.get("status") or {}
    ours = WHATSAPP_STATUSES.get(_text(status.get("status")))
    if ours is None:
        return None  # "deleted", "warning", …: nothing to move
    code = detail = ""
    errors = _dicts(status.get("errors"))
    if errors:
        code = f"meta_{_text(errors[0].get('code'))}"
        error_data = errors[0].get("error_data")
        details = error_data.get("details") if isinstance(error_data, dict) else None
        detail = _text(details) or _text(errors[0].get("title")) or _text(errors[0].get("message"))
    return ParsedStatus(
        provider_id=_text(status.get("id")), status=ours, error_code=code, error_detail=detail
    )


def _messenger_message(kind: str, payload: Mapping[str, Any]) -> ParsedMessage | None:
    event: Mapping[str, Any] = payload.get("messaging") or {}
    sender = _id_of(event.get("sender"))
    if not sender:
        return None
    contact_kind = CONTACT_KIND[ChannelKind(kind)]
    postback = event.get("postback")
    if isinstance(postback, dict):
        title = _text(postback.get("title"))
        mid = _text(postback.get("mid")) or f"postback:{sender}:{_text(event.get('timestamp'))}"
        return ParsedMessage(
            sender_kind=contact_kind,
            sender=sender,
            provider_id=mid,
            text=title,
            kind="interactive",
            data={"id": _text(postback.get("payload")), "title": title},
        )
    message: Mapping[str, Any] = event.get("message") or {}
    text = _text(message.get("text"))
    reply_to = message.get("reply_to")
    quoted = _text(reply_to.get("mid")) if isinstance(reply_to, dict) else ""
    quick = message.get("quick_reply")
    media = [
        {
            "url": _text((a.get("payload") or {}).get("url")),
            "content_type": "",
            "type": _text(a.get("type")),
        }
        for a in _dicts(message.get("attachments"))
        if isinstance(a.get("payload"), dict) and a["payload"].get("url")
    ]
    data: dict[str, Any] = {}
    parsed_kind = "text"
    if isinstance(quick, dict):
        parsed_kind = "interactive"
        data = {"id": _text(quick.get("payload")), "title": text}
    elif media and not text:
        parsed_kind = media[0]["type"] if media[0]["type"] in MEDIA_KINDS else "file"
    return ParsedMessage(
        sender_kind=contact_kind,
        sender=sender,
        provider_id=_text(message.get("mid")),
        text=text,
        kind=parsed_kind,
        media=media,
        data=data,
        references=(quoted,) if quoted else (),
    )


def _messenger_statuses(event: InboundEvent) -> list[Parsed]:
    payload: Mapping[str, Any] = event.payload
    delivered = payload.get("status") == "delivered"
    status = Outbound.Status.DELIVERED if delivered else Outbound.Status.READ
    mid = _text(payload.get("mid"))
    if mid:
        return [ParsedStatus(provider_id=mid, status=status)]
    # A Messenger read watermark: every message to this person sent before it has been read.
    watermark = payload.get("watermark")
    messaging = payload.get("messaging")
    sender = _id_of(messaging.get("sender")) if isinstance(messaging, dict) else ""
    if not sender or not _text(watermark).isdigit():
        return []
    read_at = datetime.fromtimestamp(int(_text(watermark)) / 1000, tz=UTC)
    unread = Outbound.objects.filter(
        channel_id=event.channel_id,
        recipient=sender,
        provider_id__isnull=False,
        status__in=[Outbound.Status.SENT, Outbound.Status.DELIVERED],
        attempt_started_at__lte=read_at,
    ).values_list("provider_id", flat=True)
    return [ParsedStatus(provider_id=str(pid), status=Outbound.Status.READ) for pid in unread]


# Sending


def _graph_error(response: httpx.Response) -> SendError:
    retryable = response.status_code == 429 or response.status_code >= 500
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict) or "code" not in error:
        return SendError(
            f"meta_http_{response.status_code}", response.text[:300], retryable=retryable
        )
    code = _text(error.get("code"))
    detail = _text(error.get("message"))
    error_data = error.get("error_data")
    if isinstance(error_data, dict) and error_data.get("details"):
        detail = f"{detail} ({_text(error_data.get('details'))})"
    if error.get("error_subcode"):
        detail = f"{detail} [subcode {_text(error.get('error_subcode'))}]"
    retryable = retryable or (code.isdigit() and int(code) in RETRYABLE_CODES)
    return SendError(f"meta_{code}", detail[:300], retryable=retryable)


def _whatsapp_body(outbound: Outbound) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": outbound.recipient.lstrip("+"),
        "biz_opaque_callback_data": outbound.public_id,
    }
    template = outbound.extra.get("template") if isinstance(outbound.extra, dict) else None
    if isinstance(template, dict) and template.get("name"):
        language = template.get("language") or "en_US"
        body["type"] = "template"
        body["template"] = {
            "name": str(template["name"]),
            "language": language if isinstance(language, dict) else {"code": str(language)},
        }
        if template.get("components"):
            body["template"]["components"] = template["components"]
        return body
    media = next((item for item in outbound.media if item.get("url")), None)
    if media is not None:
        # One attachment per WhatsApp message: the first, with the text as its caption.
        content_type = str(media.get("content_type") or "image/")
        kind = next((k for k in ("image", "video") if content_type.startswith(k + "/")), "document")
        part: dict[str, Any] = {"link": str(media["url"])}
        if outbound.text:
            part["caption"] = outbound.text
        if kind == "document" and media.get("filename"):
            part["filename"] = str(media["filename"])
        body["type"], body[kind] = kind, part
        return body
    body["type"] = "text"
    body["text"] = {"body": outbound.text}
    return body


def _messenger_body(outbound: Outbound) -> dict[str, Any]:
    urls = [str(item["url"]) for item in outbound.media if item.get("url")]
    message: dict[str, Any]
    if urls and not outbound.text:
        message = {"attachment": {"type": "image", "payload": {"url": urls[0]}}}
    else:
        # Messenger carries text or one attachment: links keep every attachment with the text.
        message = {"text": "\n".join([outbound.text, *urls])}
    return {
        "recipient": {"id": outbound.recipient},
        "messaging_type": "RESPONSE",
        "message": message,
    }


class MetaAdapter:
    """WhatsApp Cloud API (address: phone_number_id) or Messenger/Instagram (address: the Page
    or Instagram account id). Credentials: app_secret (verifies webhooks), verify_token (the
    subscription handshake) and access_token (sends)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        address = address.strip()
        if not address.isdigit() or len(address) > 30:
            what = "phone number id" if self.kind == ChannelKind.WHATSAPP else "Page/account id"
            raise ValidationFailed(f"A Meta {what} is all digits.", field="address")
        checked: dict[str, str] = {}
        for name, why in (
            ("app_secret", "to verify webhooks"),
            ("verify_token", "for the webhook subscription"),
            ("access_token", "to send"),
        ):
            value = str(credentials.get(name) or "").strip()
            if not value:
                raise ValidationFailed(f"The {name} is required {why}.", field=name)
            checked[name] = value
        return address, checked

    def parse(self, event: InboundEvent) -> list[Parsed]:
        if self.kind == ChannelKind.WHATSAPP:
            if event.kind == "status":
                status = _whatsapp_status(event.payload)
                return [status] if status is not None else []
            message = _whatsapp_message(event.payload)
            if message is not None and message.media:
                kept = [
                    _whatsapp_media_keep(event.channel, message.provider_id, index, item)
                    for index, item in enumerate(message.media)
                ]
                message = replace(message, media=kept)
        else:
            if event.kind == "status":
                return _messenger_statuses(event)
            message = _messenger_message(self.kind, event.payload)
        return [message] if message is not None else []

    def _url(self, channel: Channel) -> str:
        base = (channel.api_base or DEFAULT_API_BASE).rstrip("/")
        node = channel.address if self.kind == ChannelKind.WHATSAPP else "me"
        return f"{base}/{GRAPH_VERSION}/{node}/messages"

    def send(self, channel: Channel, outbound: Outbound) -> str:
        """Meta's failures that come only later (131047 outside the 24-hour window, 131026
        undeliverable) arrive as a failed status webhook and fail the message there."""
        if self.kind == ChannelKind.WHATSAPP:
            body = _whatsapp_body(outbound)
        else:
            body = _messenger_body(outbound)
        headers = {"Authorization": f"Bearer {channel.credentials.get('access_token', '')}"}
        try:
            response = httpx.post(self._url(channel), json=body, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise SendError("provider_unreachable", str(exc)[:300], retryable=True) from exc
        if response.status_code != 200:
            raise _graph_error(response)
        try:
            answer = response.json()
            if self.kind == ChannelKind.WHATSAPP:
                provider_id = answer["messages"][0]["id"]
            else:
                provider_id = answer["message_id"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            # Meta took it: sending again could repeat it, so this is not retried.
            raise SendError("meta_bad_response", response.text[:300], retryable=False) from exc
        return str(provider_id)

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        """The wamid of a status webhook that echoed this outbound's public id as
        `biz_opaque_callback_data`. None when no receipt came back (or on Messenger/Instagram,
        which have no such echo): the message is then sent again, perhaps a second time."""
        if self.kind != ChannelKind.WHATSAPP:
            return None
        receipt = (
            InboundEvent.objects.filter(
                channel=channel,
                kind="status",
                payload__status__biz_opaque_callback_data=outbound.public_id,
            )
            .order_by("pk")
            .first()
        )
        if receipt is None:
            return None
        wamid = _text((receipt.payload.get("status") or {}).get("id"))
        claimed = (
            Outbound.objects.filter(channel=channel, provider_id=wamid)
            .exclude(pk=outbound.pk)
            .exists()
        )
        return wamid if wamid and not claimed else None


WHATSAPP = MetaAdapter(ChannelKind.WHATSAPP.value)
MESSENGER = MetaAdapter(ChannelKind.MESSENGER.value)
INSTAGRAM = MetaAdapter(ChannelKind.INSTAGRAM.value)
ADAPTERS = (WHATSAPP, MESSENGER, INSTAGRAM)
