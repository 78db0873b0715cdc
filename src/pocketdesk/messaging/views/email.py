"""The inbound mail webhook: a raw RFC 5322 message, signed with the channel's inbound secret
(the format is in `messaging.adapters.email`), stored once per Message-ID."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pocketdesk.core.errors import DomainError, PermissionDenied, ValidationFailed
from pocketdesk.messaging import services, tasks
from pocketdesk.messaging.adapters import email as email_adapter
from pocketdesk.messaging.models import Channel, ChannelKind

CONTENT_TYPE = "message/rfc822"


def _error(error: DomainError) -> JsonResponse:
    return JsonResponse(error.body(), status=error.status)


def _channel(public_id: str) -> Channel | None:
    if not public_id:
        return None
    return Channel.objects.filter(
        public_id=public_id, kind=ChannelKind.EMAIL, is_active=True
    ).first()


@csrf_exempt
@require_POST
def email_inbound(request: HttpRequest) -> JsonResponse:
    channel = _channel(request.GET.get("channel", ""))
    body = request.body
    signature = request.headers.get(email_adapter.SIGNATURE_HEADER, "")
    if channel is None or not email_adapter.signature_valid(channel, signature, body):
        # One answer for every refusal: an unknown channel looks like a bad signature.
        return _error(PermissionDenied("Missing, stale or invalid signature."))
    if request.content_type != CONTENT_TYPE:
        detail = f"Post the raw message as {CONTENT_TYPE}."
        return JsonResponse({"code": "unsupported_media_type", "detail": detail}, status=415)
    if not body.strip():
        return _error(ValidationFailed("The message is empty.", code="empty_message"))
    event, created = services.inbound_event_store(
        channel=channel,
        kind="message",
        provider_event_id=email_adapter.message_id_of(body),
        payload=email_adapter.raw_payload(body),
    )
    tasks.inbound_stored(created)
    return JsonResponse({"stored": created, "message_id": event.provider_event_id}, status=202)
