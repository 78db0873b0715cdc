"""The Twilio SMS/MMS adapter: signature check and parsing of inbound webhooks."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

from pocketdesk.messaging.models import Channel

MAX_MEDIA = 10
# Carrier keywords (CTIA): opt-out, opt-in and help.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "AIDE"})


@dataclass(frozen=True)
class ParsedSms:
    message_sid: str
    sender: str
    recipient: str
    text: str
    media: list[dict[str, Any]]


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


def parse(params: Mapping[str, str]) -> ParsedSms:
    raw_count = params.get("NumMedia") or "0"
    count = min(int(raw_count), MAX_MEDIA) if raw_count.isdigit() else 0
    media = [
        {
            "url": params.get(f"MediaUrl{i}", ""),
            "content_type": params.get(f"MediaContentType{i}", ""),
        }
        for i in range(count)
        if params.get(f"MediaUrl{i}")
    ]
    return ParsedSms(
        message_sid=params.get("MessageSid") or params.get("SmsSid") or "",
        sender=params.get("From", ""),
        recipient=params.get("To", ""),
        text=params.get("Body", ""),
        media=media,
    )


def keyword(text: str) -> str | None:
    word = text.strip().upper().rstrip(".!")
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
