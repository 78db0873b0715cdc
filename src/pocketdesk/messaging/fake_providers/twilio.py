"""Twilio Programmable Messaging in the fake: send/fetch, scripted outcomes, status callbacks."""

import base64
import copy
import hmac
import re
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

import phonenumbers

from pocketdesk.messaging.fake_providers.wire import (
    Outcome,
    Reply,
    Webhook,
    form_value,
    is_http_url,
    numeric_id,
    snippet,
    twilio_error,
    twilio_sid,
    twilio_webhook,
    utc_now,
)
from pocketdesk.messaging.segments import sms_segments

TWILIO_API_VERSION = "2010-04-01"

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
SHORT_CODE = re.compile(r"^\d{3,8}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-f]{32}$")

TWILIO_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
TWILIO_MESSAGE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)

TWILIO_ERRORS = {
    30005: "Unknown destination handset",
    30008: "Unknown error",
}
TWILIO_STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}


class TwilioMessages:
    """The Message resources the fake created, by sid; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_sid: dict[str, dict[str, Any]] = {}

    def add(self, resource: dict[str, Any]) -> None:
        with self._lock:
            self._by_sid[resource["sid"]] = resource

    def all(self) -> list[dict[str, Any]]:
        """Copies of every resource, newest first (Twilio lists messages that way)."""
        with self._lock:
            return [copy.deepcopy(r) for r in reversed(self._by_sid.values())]

    def sent_to(self, to: str) -> list[dict[str, Any]]:
        """Copies of the resources to one number (or all when `to` is empty), newest first:
        filtered before copying, so that a list by number stays quick with thousands held."""
        with self._lock:
            found = [r for r in reversed(self._by_sid.values()) if not to or r["to"] == to]
            return [copy.deepcopy(r) for r in found]

    def get(self, sid: str) -> dict[str, Any] | None:
        """A copy of the resource, or None."""
        with self._lock:
            return copy.deepcopy(self._by_sid.get(sid))

    def advance(self, sid: str, status: str, error_code: int | None, sender: str) -> dict[str, Any]:
        """Apply one status step and return a copy of the resource after it."""
        now = _rfc2822(utc_now())
        with self._lock:
            resource = self._by_sid[sid]
            # Callbacks may arrive out of order; the resource itself never goes back.
            if TWILIO_STATUS_RANK[status] >= TWILIO_STATUS_RANK[resource["status"]]:
                resource["status"] = status
            resource["from"] = resource["from"] or sender
            resource["date_updated"] = now
            if status in {"sent", "delivered", "undelivered"}:
                resource["date_sent"] = resource["date_sent"] or now
                mms = resource["num_media"] != "0"
                price = 0.02 if mms else 0.0079 * int(resource["num_segments"])
                resource["price"] = f"-{price:.5f}"
            if error_code is not None:
                resource["error_code"] = error_code
                resource["error_message"] = TWILIO_ERRORS.get(error_code)
            return copy.deepcopy(resource)


class TwilioState(Protocol):
    """What Twilio handling needs from the running fake (FakeProviders provides it)."""

    @property
    def twilio_accounts(self) -> Mapping[str, str]: ...

    @property
    def twilio_messages(self) -> TwilioMessages: ...

    @property
    def slow_reply_seconds(self) -> float: ...

    def wait_status_delay(self) -> bool: ...

    def deliver(self, hook: Webhook, *, retry: bool = True) -> int: ...


def handle(
    state: TwilioState,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    raw: bytes,
) -> Outcome | None:
    """Answer a request under the Twilio API; None if the path is not Twilio's."""
    if match := TWILIO_MESSAGES.match(path):
        if method == "GET":
            return _list(state, match["account"], query, headers)
        if method != "POST":
            return Outcome(twilio_error(405, 20004, "Method not allowed"), "twilio")
        return _send(state, match["account"], headers, raw)
    if match := TWILIO_MESSAGE.match(path):
        if method != "GET":
            return Outcome(twilio_error(405, 20004, "Method not allowed"), "twilio")
        return _fetch(state, match["account"], match["sid"], headers)
    if path.startswith(f"/{TWILIO_API_VERSION}/"):
        message = f"The requested resource {path} was not found"
        return Outcome(twilio_error(404, 20404, message), "twilio")
    return None


def inbound_sms_webhook(
    state: TwilioState,
    url: str,
    from_: str,
    to: str,
    body: str,
    auth_token: str,
    *,
    account_sid: str | None,
    media_urls: Sequence[str],
    media_types: Sequence[str],
    message_sid: str | None,
    messaging_service_sid: str | None,
) -> Webhook:
    """Twilio's inbound SMS/MMS webhook, signed with auth_token."""
    if account_sid is None:
        account_sid = next(
            (sid for sid, token in state.twilio_accounts.items() if token == auth_token),
            twilio_sid("AC"),
        )
    sid = message_sid or twilio_sid("MM" if media_urls else "SM")
    params = {
        "ToCountry": _country(to),
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media_urls)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": _country(from_),
        "To": to,
        "ToZip": "",
        "NumSegments": str(sms_segments(body).segments),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": TWILIO_API_VERSION,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    for index, media_url in enumerate(media_urls):
        params[f"MediaUrl{index}"] = media_url
        kind = media_types[index] if index < len(media_types) else "image/jpeg"
        params[f"MediaContentType{index}"] = kind
    return twilio_webhook("twilio.inbound", url, params, auth_token)


def _auth(state: TwilioState, account: str, headers: Mapping[str, str]) -> str | None:
    """The auth token of the account, if the request authenticated as it."""
    credentials = _basic_auth(headers.get("authorization", ""))
    if credentials is None:
        return None
    user, password = credentials
    token = state.twilio_accounts.get(user)
    if token is None or user != account:
        return None
    return token if hmac.compare_digest(token.encode(), password.encode()) else None


def _send(state: TwilioState, account: str, headers: Mapping[str, str], raw: bytes) -> Outcome:
    try:
        params = parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        params = {}
    token = _auth(state, account, headers)
    outcome = Outcome(Reply(201, None), "twilio", params=params, auth_ok=token is not None)
    if token is None:
        outcome.reply = twilio_error(401, 20003, "Authenticate")
        outcome.reply.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return outcome
    to, from_ = form_value(params, "To"), form_value(params, "From")
    service = form_value(params, "MessagingServiceSid")
    body, media = form_value(params, "Body"), params.get("MediaUrl", [])
    callback = form_value(params, "StatusCallback")
    error = _send_error(to, from_, service, body, media, callback)
    if error is not None:
        outcome.reply = error
        return outcome

    now = utc_now()
    whatsapp = to.startswith("whatsapp:")
    sid = twilio_sid("MM" if media else "SM")
    segments = 1 if whatsapp or not body else sms_segments(body).segments
    resource: dict[str, Any] = {
        "account_sid": account,
        "api_version": TWILIO_API_VERSION,
        "body": body,
        "date_created": _rfc2822(now),
        "date_sent": None,
        "date_updated": _rfc2822(now),
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_ or None,
        "messaging_service_sid": service or None,
        "num_media": str(len(media)),
        "num_segments": str(segments),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted" if service and not from_ else "queued",
        "subresource_uris": {
            "media": f"/{TWILIO_API_VERSION}/Accounts/{account}/Messages/{sid}/Media.json"
        },
        "to": to,
        "uri": f"/{TWILIO_API_VERSION}/Accounts/{account}/Messages/{sid}.json",
    }
    state.twilio_messages.add(resource)
    if to.endswith("0003"):
        # Accepted and queued, but the answer is slow: a sender killed while waiting has sent it.
        time.sleep(state.slow_reply_seconds)
    outcome.reply = Reply(201, copy.deepcopy(resource))
    outcome.summary = f"{sid} to {to}: {snippet(body)}"
    sender = from_ or _service_number(service)
    steps = _steps(to, via_service=bool(service and not from_))
    outcome.then = lambda: _lifecycle(state, sid, steps, callback, token, sender)
    return outcome


def _list(
    state: TwilioState, account: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
) -> Outcome:
    """``GET Messages.json`` with the ``To``, ``From`` and ``DateSent>=`` filters, one page."""
    token = _auth(state, account, headers)
    outcome = Outcome(Reply(200, None), "twilio", auth_ok=token is not None)
    if token is None:
        outcome.reply = twilio_error(401, 20003, "Authenticate")
        return outcome

    def first(name: str) -> str:
        return (query.get(name) or [""])[0]

    to, from_, since = first("To"), first("From"), first("DateSent>")
    rows = [
        r
        for r in state.twilio_messages.sent_to(to)
        if r["account_sid"] == account
        and (not from_ or r["from"] == from_)
        and (not since or _day(r["date_created"]) >= since)
    ]
    uri = f"/{TWILIO_API_VERSION}/Accounts/{account}/Messages.json"
    outcome.reply.payload = {
        "messages": rows,
        "end": max(len(rows) - 1, 0),
        "first_page_uri": f"{uri}?PageSize=50&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{uri}?PageSize=50&Page=0",
    }
    outcome.summary = f"list {len(rows)} messages"
    return outcome


def _day(rfc2822: str) -> str:
    return parsedate_to_datetime(rfc2822).strftime("%Y-%m-%d")


def _fetch(state: TwilioState, account: str, sid: str, headers: Mapping[str, str]) -> Outcome:
    token = _auth(state, account, headers)
    outcome = Outcome(Reply(200, None), "twilio", auth_ok=token is not None)
    resource = state.twilio_messages.get(sid)
    if token is None:
        outcome.reply = twilio_error(401, 20003, "Authenticate")
    elif resource is None or resource["account_sid"] != account:
        path = f"/{TWILIO_API_VERSION}/Accounts/{account}/Messages/{sid}.json"
        outcome.reply = twilio_error(404, 20404, f"The requested resource {path} was not found")
    else:
        outcome.reply.payload = resource
        outcome.summary = f"{sid} {resource['status']}"
    return outcome


def _lifecycle(
    state: TwilioState,
    sid: str,
    steps: Sequence[tuple[str, int | None]],
    callback: str,
    token: str,
    sender: str,
) -> None:
    for status, error_code in steps:
        if not state.wait_status_delay():
            return
        resource = state.twilio_messages.advance(sid, status, error_code, sender)
        if not callback:
            continue
        params = {
            "AccountSid": resource["account_sid"],
            "ApiVersion": TWILIO_API_VERSION,
            "From": sender,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": resource["to"],
        }
        if resource["messaging_service_sid"]:
            params["MessagingServiceSid"] = resource["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        if status in {"delivered", "undelivered"}:
            params["RawDlrDoneDate"] = utc_now().strftime("%y%m%d%H%M")
        state.deliver(twilio_webhook("twilio.status", callback, params, token))


def _send_error(
    to: str, from_: str, service: str, body: str, media: Sequence[str], callback: str
) -> Reply | None:
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    to_number = to.removeprefix("whatsapp:")
    if not E164.match(to_number):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_ and not service:
        return twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
    if from_ and to.startswith("whatsapp:") != from_.startswith("whatsapp:"):
        message = "Twilio could not find a Channel with the specified From address"
        return twilio_error(400, 63007, message)
    from_number = from_.removeprefix("whatsapp:")
    if from_ and not (
        E164.match(from_number)
        or ALPHANUMERIC_SENDER.match(from_number)
        or SHORT_CODE.match(from_number)
    ):
        message = (
            f"The 'From' number {from_} is not a valid phone number, shortcode, "
            "or alphanumeric sender ID."
        )
        return twilio_error(400, 21212, message)
    if from_ and from_ == to:
        return twilio_error(400, 21266, "'To' and 'From' number cannot be the same")
    if service and not MESSAGING_SERVICE_SID.match(service):
        return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
    if not body and not media:
        return twilio_error(400, 21602, "Message body is required.")
    if len(body) > 1600:
        message = "The concatenated message body exceeds the 1600 character limit."
        return twilio_error(400, 21617, message)
    if len(media) > 10:
        return twilio_error(400, 21623, "Number of media files exceeds allowed limit")
    if callback and not is_http_url(callback):
        return twilio_error(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
    return None


def _steps(to: str, *, via_service: bool) -> list[tuple[str, int | None]]:
    """The scripted statuses, chosen by the recipient's last four digits."""
    queued: list[tuple[str, int | None]] = [("queued", None)] if via_service else []
    if to.endswith("0000"):
        return [*queued, ("sent", None), ("undelivered", 30005)]
    if to.endswith("0001"):
        return [*queued, ("failed", 30008)]
    if to.endswith("0002"):
        return [*queued, ("delivered", None), ("sent", None)]
    return [*queued, ("sent", None), ("delivered", None)]


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _service_number(service: str) -> str:
    """The sender a Messaging Service picks from its pool: stable per service."""
    return "+1415555" + numeric_id("pool:" + service, 4)


def _country(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number.removeprefix("whatsapp:"))
    except phonenumbers.NumberParseException:
        return ""
    if parsed.country_code is None:
        return ""
    region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return "" if region == phonenumbers.UNKNOWN_REGION else region


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment)
