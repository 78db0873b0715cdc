"""Media in the fake: files a customer "sent", downloadable as each provider serves them.

Twilio: ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}`` (Basic
auth, as with HTTP authentication for media on) answers the bytes. Meta Graph: ``GET
/{version}/{media_id}`` (Bearer) answers ``{"url", "mime_type", "sha256", "file_size", "id",
"messaging_product"}``; ``GET /whatsapp_business/attachments/?mid={media_id}`` (Bearer), the
download URL, answers the bytes."""

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pocketdesk.messaging.fake_providers.wire import (
    Outcome,
    Reply,
    form_value,
    graph_error,
    twilio_error,
    twilio_sid,
)

TWILIO_API_VERSION = "2010-04-01"
TWILIO_MEDIA = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<sid>[^/]+)$"
)
GRAPH_MEDIA = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<media_id>\d+)$")
WHATSAPP_DOWNLOAD = "/whatsapp_business/attachments/"


@dataclass(frozen=True)
class MediaFile:
    data: bytes
    content_type: str
    owner: str  # the Twilio account sid, or "" for Meta media


class FakeMedia:
    """Files by id (a Twilio MediaSid or a Graph media id); safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, MediaFile] = {}

    def add(self, media_id: str, media: MediaFile) -> None:
        with self._lock:
            self._files[media_id] = media

    def get(self, media_id: str) -> MediaFile | None:
        with self._lock:
            return self._files.get(media_id)


class MediaState(Protocol):
    @property
    def media(self) -> FakeMedia: ...

    @property
    def base_url(self) -> str: ...

    @property
    def twilio_accounts(self) -> Mapping[str, str]: ...

    @property
    def meta_tokens(self) -> frozenset[str]: ...


def twilio_media_add(
    state: MediaState, account_sid: str, message_sid: str, data: bytes, content_type: str
) -> str:
    """Keep a file of an inbound MMS; returns its MediaUrl."""
    sid = twilio_sid("ME")
    state.media.add(sid, MediaFile(data, content_type, account_sid))
    path = f"/{TWILIO_API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}/Media"
    return f"{state.base_url}{path}/{sid}"


def whatsapp_media_add(state: MediaState, data: bytes, mime_type: str) -> str:
    """Keep a file of an inbound WhatsApp message; returns its media id."""
    media_id = str(10**15 + secrets.randbelow(9 * 10**15))
    state.media.add(media_id, MediaFile(data, mime_type, ""))
    return media_id


def _bytes(media: MediaFile) -> Reply:
    return Reply(200, None, {"Content-Type": media.content_type}, body=media.data)


def _twilio_auth_ok(state: MediaState, account: str, headers: Mapping[str, str]) -> bool:
    """Basic auth as the account that owns the path (its SID and auth token)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    token = state.twilio_accounts.get(user)
    return (
        user == account
        and token is not None
        and hmac.compare_digest(token.encode(), password.encode())
    )


def _bearer_ok(state: MediaState, headers: Mapping[str, str]) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token.strip() in state.meta_tokens


def handle(
    state: MediaState,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
) -> Outcome | None:
    """Answer a media request (any Graph object read is one); None if the path is not."""
    if match := TWILIO_MEDIA.match(path):
        return _twilio(state, method, match["account"], match["sid"], headers)
    if match := GRAPH_MEDIA.match(path):
        return _graph_info(state, method, match["media_id"], headers)
    if path == WHATSAPP_DOWNLOAD:
        return _whatsapp_download(state, method, form_value(query, "mid"), headers)
    return None


def _twilio(
    state: MediaState, method: str, account: str, sid: str, headers: Mapping[str, str]
) -> Outcome:
    authorised = _twilio_auth_ok(state, account, headers)
    outcome = Outcome(Reply(200, None), "twilio", auth_ok=authorised)
    media = state.media.get(sid)
    if method != "GET":
        outcome.reply = twilio_error(405, 20004, "Method not allowed")
    elif not authorised:
        outcome.reply = twilio_error(401, 20003, "Authenticate")
    elif media is None or media.owner != account:
        outcome.reply = twilio_error(404, 20404, f"The requested resource {sid} was not found")
    else:
        outcome.reply = _bytes(media)
        outcome.summary = f"media {sid} ({media.content_type}, {len(media.data)} bytes)"
    return outcome


def _graph_info(
    state: MediaState, method: str, media_id: str, headers: Mapping[str, str]
) -> Outcome:
    authorised = _bearer_ok(state, headers)
    outcome = Outcome(Reply(200, None), "meta", auth_ok=authorised)
    media = state.media.get(media_id)
    if not authorised:
        message = "Invalid OAuth access token - Cannot parse access token"
        outcome.reply = graph_error(401, 190, message)
    elif method != "GET" or media is None:
        message = (
            f"Unsupported {method.lower()} request. Object with ID '{media_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation."
        )
        outcome.reply = graph_error(400, 100, message, subcode=33)
    else:
        outcome.reply = Reply(
            200,
            {
                "messaging_product": "whatsapp",
                "url": f"{state.base_url}{WHATSAPP_DOWNLOAD}?mid={media_id}",
                "mime_type": media.content_type,
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": len(media.data),
                "id": media_id,
            },
        )
        outcome.summary = f"media {media_id}"
    return outcome


def _whatsapp_download(
    state: MediaState, method: str, media_id: str, headers: Mapping[str, str]
) -> Outcome:
    authorised = _bearer_ok(state, headers)
    outcome = Outcome(Reply(200, None), "meta", auth_ok=authorised)
    media = state.media.get(media_id)
    if not authorised:
        outcome.reply = Reply(401, {"error": "a Bearer token is required"})
    elif method != "GET" or media is None or media.owner:
        outcome.reply = Reply(404, {"error": "no such media"})
    else:
        outcome.reply = _bytes(media)
        outcome.summary = f"download {media_id} ({len(media.data)} bytes)"
    return outcome
