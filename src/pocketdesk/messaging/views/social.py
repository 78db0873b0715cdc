"""X (Account Activity API style) webhook: the CRC challenge (GET) and signed mention events
(POST), for the channel named by the ``channel`` query parameter (its public id)."""

import json
import logging
import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pocketdesk.messaging import services, tasks
from pocketdesk.messaging.adapters import social
from pocketdesk.messaging.models import Channel, ChannelKind

logger = logging.getLogger(__name__)


CRC_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{1,128}")


def forbidden() -> HttpResponse:
    return HttpResponse("forbidden", status=403, content_type="text/plain")


def bad_request(code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=400)


def _channel(request: HttpRequest) -> Channel | None:
    public_id = request.GET.get("channel", "")
    if not public_id:
        return None
    return Channel.objects.filter(
        public_id=public_id, kind=ChannelKind.SOCIAL, is_active=True
    ).first()


def _crc(request: HttpRequest, channel: Channel) -> HttpResponse:
    crc_token = request.GET.get("crc_token", "")
    if not crc_token:
        return bad_request("crc_token_required", "A CRC request carries crc_token.")
    # The answer is the same HMAC that signs POST bodies: only a short token (never a JSON body
    # an attacker wants signed) gets one.
    if not CRC_TOKEN.fullmatch(crc_token):
        return bad_request("crc_token_invalid", "crc_token is 1 to 128 base64 characters.")
    token = social.crc_response_token(channel, crc_token)
    if token is None:
        return forbidden()
    return JsonResponse({"response_token": token})


def _events(request: HttpRequest, channel: Channel) -> HttpResponse:
    body = request.body  # Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE with a 400
    signature = request.headers.get(social.SIGNATURE_HEADER, "")
    if not social.signature_valid(channel, body, signature):
        return forbidden()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return bad_request("invalid_json", "The body is not JSON.")
    if not isinstance(payload, dict):
        return bad_request("invalid_payload", "The body is not a JSON object.")
    stored = 0
    for tweet in social.mentions(payload):
        _event, created = services.inbound_event_store(
            channel=channel,
            kind=social.MENTION_KIND,
            provider_event_id=str(tweet["id_str"]),
            payload=social.mention_payload(payload, tweet),
        )
        if created:
            stored += 1
    tasks.inbound_stored(stored > 0)
    logger.info("messaging.social.webhook", extra={"channel": channel.public_id, "new": stored})
    return HttpResponse(status=200)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def social_webhook(request: HttpRequest) -> HttpResponse:
    channel = _channel(request)
    if channel is None:
        return forbidden()
    if request.method == "GET":
        return _crc(request, channel)
    return _events(request, channel)
