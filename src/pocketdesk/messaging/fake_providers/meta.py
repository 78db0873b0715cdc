"""Meta Graph in the fake: WhatsApp Cloud API and Messenger sends, scripted outcomes, webhooks."""

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from pocketdesk.messaging.fake_providers.wire import (
    Outcome,
    Reply,
    Webhook,
    form_value,
    graph_error,
    messenger_message_id,
    meta_webhook,
    numeric_id,
    snippet,
    utc_now,
    whatsapp_message_id,
)

GRAPH_VERSION = "v23.0"
GRAPH_MESSAGES = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<node>[^/]+)/messages$")

WHATSAPP_ERRORS = {
    131026: ("Message undeliverable", "Unable to deliver message. Reasons can include..."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
}
WHATSAPP_TYPES = (
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
)


class MetaState(Protocol):
    """What Meta Graph handling needs from the running fake (FakeProviders provides it)."""

    @property
    def meta_tokens(self) -> frozenset[str]: ...

    @property
    def meta_app_secret(self) -> str | None: ...

    @property
    def meta_webhook_url(self) -> str | None: ...

    @property
    def meta_phone_numbers(self) -> Mapping[str, str]: ...

    def wait_status_delay(self) -> bool: ...

    def deliver(self, hook: Webhook, *, retry: bool = True) -> int: ...


def handle(
    state: MetaState,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    raw: bytes,
) -> Outcome | None:
    """Answer a Graph ``…/messages`` request; None if the path is not one."""
    match = GRAPH_MESSAGES.match(path)
    if match is None:
        return None
    node = match["node"]
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else form_value(query, "access_token")
    authorised = bool(token) and token in state.meta_tokens
    outcome = Outcome(Reply(200, None), "meta", auth_ok=authorised)
    try:
        outcome.json = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        outcome.json = None
        if authorised:
            outcome.reply = graph_error(400, 100, "(#100) Invalid parameter")
            return outcome
    if not authorised:
        message = "Invalid OAuth access token - Cannot parse access token"
        outcome.reply = graph_error(401, 190, message)
        return outcome
    if method != "POST":
        outcome.reply = graph_error(400, 100, f"Unsupported {method.lower()} request.")
        return outcome
    if node == "me":
        return _messenger_send(state, outcome, token)
    if not node.isdigit():
        message = (
            f"Unsupported post request. Object with ID '{node}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation."
        )
        outcome.reply = graph_error(400, 100, message, subcode=33)
        return outcome
    return _whatsapp_send(state, outcome, node)


def app_secret(state: MetaState, override: str | None = None) -> str:
    """The app secret to sign Meta webhooks with: override, else the fake's own."""
    secret = override or state.meta_app_secret
    if not secret:
        raise ValueError("no Meta app secret to sign with")
    return secret


def inbound_whatsapp_webhook(
    state: MetaState,
    url: str,
    from_: str,
    body: str,
    *,
    phone_number_id: str,
    app_secret_override: str | None,
    profile_name: str,
    message_id: str | None,
    message: Mapping[str, Any] | None,
) -> Webhook:
    """Meta's inbound WhatsApp message webhook, signed."""
    wa_id = re.sub(r"\D", "", from_)
    entry_message: dict[str, Any] = {
        "from": wa_id,
        "id": message_id or whatsapp_message_id(wa_id),
        "timestamp": str(int(utc_now().timestamp())),
    }
    entry_message.update(message or {"type": "text", "text": {"body": body}})
    value = {
        "messaging_product": "whatsapp",
        "metadata": _whatsapp_metadata(state, phone_number_id),
        "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
        "messages": [entry_message],
    }
    payload = _whatsapp_envelope(phone_number_id, value)
    secret = app_secret(state, app_secret_override)
    return meta_webhook("whatsapp.inbound", url, payload, secret)


def inbound_messenger_webhook(
    state: MetaState,
    url: str,
    sender_id: str,
    text: str,
    *,
    page_id: str,
    app_secret_override: str | None,
    mid: str | None,
) -> Webhook:
    """Meta's inbound Messenger webhook (object "page"), signed."""
    now_ms = int(utc_now().timestamp() * 1000)
    payload = {
        "object": "page",
        "entry": [
            {
                "id": page_id,
                "time": now_ms,
                "messaging": [
                    {
                        "sender": {"id": sender_id},
                        "recipient": {"id": page_id},
                        "timestamp": now_ms,
                        "message": {"mid": mid or messenger_message_id(), "text": text},
                    }
                ],
            }
        ],
    }
    secret = app_secret(state, app_secret_override)
    return meta_webhook("messenger.inbound", url, payload, secret)


def subscribe_request(url: str, verify_token: str) -> tuple[Webhook, str]:
    """Meta's GET verification handshake and the challenge our app must echo."""
    challenge = str(secrets.randbelow(10**9))
    query = urlencode(
        {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
    )
    separator = "&" if urlsplit(url).query else "?"
    hook = Webhook(
        "meta.subscribe",
        url + separator + query,
        b"",
        {"User-Agent": "facebookplatform/1.0"},
        method="GET",
    )
    return hook, challenge


# WhatsApp Cloud API


def _whatsapp_send(state: MetaState, outcome: Outcome, phone_number_id: str) -> Outcome:
    body = outcome.json
    problem = _whatsapp_problem(body)
    if problem is not None:
        outcome.reply = graph_error(400, 100, f"(#100) {problem}", details=problem)
        return outcome
    to = str(body["to"])
    wa_id = re.sub(r"\D", "", to)
    message_id = whatsapp_message_id(wa_id)
    kind = body.get("type", "text")
    message: dict[str, str] = {"id": message_id}
    if kind == "template":
        message["message_status"] = "accepted"
    outcome.reply.payload = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [message],
    }
    outcome.summary = f"{message_id} {kind} to {to}"
    if state.meta_webhook_url:
        category = "utility" if kind == "template" else "service"
        steps = _whatsapp_steps(wa_id)
        # Meta echoes the sender's biz_opaque_callback_data in every status webhook.
        callback = body.get("biz_opaque_callback_data")
        callback = callback if isinstance(callback, str) and callback else None
        outcome.then = lambda: _whatsapp_lifecycle(
            state, phone_number_id, message_id, wa_id, category, steps, callback
        )
    return outcome


def _whatsapp_lifecycle(
    state: MetaState,
    phone_number_id: str,
    message_id: str,
    wa_id: str,
    category: str,
    steps: Sequence[tuple[str, int | None]],
    callback: str | None = None,
) -> None:
    conversation_id = secrets.token_hex(16)
    for status, error_code in steps:
        if not state.wait_status_delay():
            return
        now = int(utc_now().timestamp())
        entry: dict[str, Any] = {
            "id": message_id,
            "status": status,
            "timestamp": str(now),
            "recipient_id": wa_id,
        }
        if callback is not None:
            entry["biz_opaque_callback_data"] = callback
        if status in {"sent", "delivered"}:
            entry["conversation"] = {
                "id": conversation_id,
                "expiration_timestamp": str(now + 24 * 3600),
                "origin": {"type": category},
            }
            entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": category}
        if error_code is not None:
            title, details = WHATSAPP_ERRORS[error_code]
            entry["errors"] = [
                {
                    "code": error_code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": details},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/"
                    "support/error-codes/",
                }
            ]
        value = {
            "messaging_product": "whatsapp",
            "metadata": _whatsapp_metadata(state, phone_number_id),
            "statuses": [entry],
        }
        payload = _whatsapp_envelope(phone_number_id, value)
        url = state.meta_webhook_url or ""
        state.deliver(meta_webhook("whatsapp.status", url, payload, app_secret(state)))


def _whatsapp_steps(wa_id: str) -> list[tuple[str, int | None]]:
    """The scripted statuses, chosen by the recipient's last four digits."""
    if wa_id.endswith("0000"):
        return [("failed", 131026)]
    if wa_id.endswith("0001"):
        return [("failed", 131047)]
    return [("sent", None), ("delivered", None), ("read", None)]


def _whatsapp_problem(body: Any) -> str | None:
    """What is wrong with a WhatsApp send body, in Graph's words; None if nothing."""
    if not isinstance(body, dict):
        return "Invalid parameter"
    if body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required."
    to = body.get("to")
    if not isinstance(to, str) or not to:
        return "The parameter to is required."
    if not re.fullmatch(r"\+?[\d\s()-]{7,20}", to):
        return "Invalid parameter"
    kind = body.get("type", "text")
    if kind not in WHATSAPP_TYPES:
        allowed = ", ".join(t.upper() for t in WHATSAPP_TYPES)
        return f'Param type must be one of {{{allowed}}} - got "{kind}".'
    part = body.get(kind)
    if not isinstance(part, dict | list) or not part:
        return f"The parameter {kind} is required."
    if kind == "text":
        text = part.get("body") if isinstance(part, dict) else None
        if not isinstance(text, str) or not text:
            return "The parameter text['body'] is required."
        if len(text) > 4096:
            return "Param text['body'] must be at most 4096 characters long."
    elif kind == "template":
        language = part.get("language") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not part.get("name"):
            return "The parameter template['name'] is required."
        if not isinstance(language, dict) or not language.get("code"):
            return "The parameter template['language']['code'] is required."
    elif kind in {"image", "audio", "video", "document", "sticker"}:
        if not isinstance(part, dict) or not (part.get("id") or part.get("link")):
            return f"Param {kind} must contain either id or link."
    elif kind == "interactive":
        if not isinstance(part, dict) or not part.get("type") or "action" not in part:
            return "The parameter interactive['type'] and interactive['action'] are required."
    elif kind == "location":
        if not isinstance(part, dict) or not all(
            isinstance(part.get(key), int | float | str) for key in ("latitude", "longitude")
        ):
            return "The parameter location['latitude'] and location['longitude'] are required."
    elif kind == "reaction" and (not isinstance(part, dict) or not part.get("message_id")):
        return "The parameter reaction['message_id'] is required."
    return None


def _whatsapp_envelope(phone_number_id: str, value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": numeric_id("waba:" + phone_number_id, 15),
                "changes": [{"value": dict(value), "field": "messages"}],
            }
        ],
    }


def _whatsapp_metadata(state: MetaState, phone_number_id: str) -> dict[str, str]:
    display = state.meta_phone_numbers.get(phone_number_id) or (
        "1555" + numeric_id("display:" + phone_number_id, 7)
    )
    return {"display_phone_number": display, "phone_number_id": phone_number_id}


# Messenger / Instagram


def _messenger_send(state: MetaState, outcome: Outcome, token: str) -> Outcome:
    body = outcome.json
    recipient = body.get("recipient") if isinstance(body, dict) else None
    recipient_id = str(recipient.get("id", "")) if isinstance(recipient, dict) else ""
    if not recipient_id:
        problem = "The parameter recipient is required"
        outcome.reply = graph_error(400, 100, f"(#100) {problem}")
        return outcome
    message = body.get("message")
    if "sender_action" in body and message is None:
        outcome.reply.payload = {"recipient_id": recipient_id}
        outcome.summary = f"{body['sender_action']} to {recipient_id}"
        return outcome
    if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
        problem = "The parameter message[text] or message[attachment] is required"
        outcome.reply = graph_error(400, 100, f"(#100) {problem}")
        return outcome
    if recipient_id.endswith("0000"):
        text = (
            "(#10) This message is sent outside of allowed window. Learn more about the new "
            "policy here: https://developers.facebook.com/docs/messenger-platform/"
            "policy-overview"
        )
        outcome.reply = graph_error(400, 10, text, subcode=2018278)
        return outcome
    mid = messenger_message_id()
    outcome.reply.payload = {"recipient_id": recipient_id, "message_id": mid}
    outcome.summary = f"{mid[:24]}… to {recipient_id}: {snippet(str(message.get('text')))}"
    if state.meta_webhook_url:
        page_id = numeric_id("page:" + token, 15)
        outcome.then = lambda: _messenger_lifecycle(state, page_id, recipient_id, mid)
    return outcome


def _messenger_lifecycle(state: MetaState, page_id: str, recipient_id: str, mid: str) -> None:
    for kind in ("delivery", "read"):
        if not state.wait_status_delay():
            return
        now_ms = int(utc_now().timestamp() * 1000)
        event: dict[str, Any] = {
            "sender": {"id": recipient_id},
            "recipient": {"id": page_id},
            "timestamp": now_ms,
        }
        if kind == "delivery":
            event["delivery"] = {"mids": [mid], "watermark": now_ms}
        else:
            event["read"] = {"watermark": now_ms}
        payload = {
            "object": "page",
            "entry": [{"id": page_id, "time": now_ms, "messaging": [event]}],
        }
        url = state.meta_webhook_url or ""
        state.deliver(meta_webhook(f"messenger.{kind}", url, payload, app_secret(state)))
