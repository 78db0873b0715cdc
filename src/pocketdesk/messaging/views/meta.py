"""Meta webhooks (WhatsApp Cloud API, Messenger, Instagram) on one URL: the GET subscription
handshake, and signed POSTs split into one stored event per message and per receipt."""

import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pocketdesk.messaging import selectors, services, tasks
from pocketdesk.messaging.adapters import meta
from pocketdesk.messaging.models import Channel

logger = logging.getLogger(__name__)
MAX_CHALLENGE = 200


def forbidden() -> HttpResponse:
    return HttpResponse("forbidden", status=403, content_type="text/plain")


def _handshake(request: HttpRequest) -> HttpResponse:
    challenge = request.GET.get("hub.challenge", "")
    if (
        request.GET.get("hub.mode") != "subscribe"
        or not challenge
        or len(challenge) > MAX_CHALLENGE
        or not meta.verify_token_known(request.GET.get("hub.verify_token", ""))
    ):
        return forbidden()
    return HttpResponse(challenge, content_type="text/plain")


def _verified_channels(payload: Any, raw: bytes, signature: str) -> dict[tuple[str, str], Channel]:
    """The channels a body names, if the signature verifies with each one's app secret; empty
    when it names none of ours or any of them does not verify. Addresses we do not know are
    left out (another number of the same Meta app)."""
    channels: dict[tuple[str, str], Channel] = {}
    for kind, address in meta.webhook_channels_named(payload):
        channel = selectors.channel_for_address(kind=kind, address=address)
        if channel is None:
            logger.warning(
                "messaging.meta.unknown_channel", extra={"kind": kind, "address": address}
            )
            continue
        secret = str(channel.credentials.get("app_secret") or "")
        if not meta.signature_valid(raw, signature, secret):
            return {}
        channels[(kind, address)] = channel
    return channels


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _handshake(request)
    signature = request.headers.get(meta.SIGNATURE_HEADER, "")
    if not signature:
        return forbidden()
    try:
        raw = request.body
    except RequestDataTooBig:
        return HttpResponse("too large", status=413, content_type="text/plain")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return forbidden()  # names no channel whose secret could verify it
    channels = _verified_channels(payload, raw, signature)
    if not channels:
        return forbidden()
    new: list[int] = []
    with transaction.atomic():
        for piece in meta.webhook_split(payload):
            channel = channels.get((piece.kind, piece.address))
            if channel is None:
                continue
            event, created = services.inbound_event_store(
                channel=channel,
                kind=piece.event_kind,
                provider_event_id=piece.provider_event_id,
                payload=piece.payload,
            )
            if created:
                new.append(event.pk)
    tasks.inbound_stored(bool(new))  # committed: wake the drain
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")
