"""Twilio webhooks: inbound SMS/MMS and status callbacks, verified with X-Twilio-Signature."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.services import phone_normalize
from pocketdesk.messaging import selectors, services, tasks
from pocketdesk.messaging.adapters import twilio_sms
from pocketdesk.messaging.models import Channel, ChannelKind

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def forbidden() -> HttpResponse:
    return HttpResponse("forbidden", status=403, content_type="text/plain")


def _verified_channel(request: HttpRequest, number_field: str) -> Channel | None:
    """The channel the request is for, if its signature and account match; else None."""
    try:
        number = phone_normalize(request.POST.get(number_field, ""))
    except ValidationFailed:
        return None
    channel = selectors.channel_for_address(kind=ChannelKind.TWILIO_SMS, address=number)
    if channel is None or not twilio_sms.signature_valid(request, channel):
        return None
    if request.POST.get("AccountSid") != channel.credentials.get("account_sid"):
        return None
    return channel


def _store(channel: Channel, kind: str, event_id: str, params: dict[str, str]) -> None:
    _event, created = services.inbound_event_store(
        channel=channel, kind=kind, provider_event_id=event_id, payload=params
    )
    tasks.inbound_stored(created)


@csrf_exempt
@require_POST
def twilio_sms_inbound(request: HttpRequest) -> HttpResponse:
    channel = _verified_channel(request, "To")
    if channel is None:
        return forbidden()
    params = {key: request.POST.get(key, "") for key in request.POST}
    _store(channel, "message", params.get("MessageSid", ""), params)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """A receipt for a message we sent: our number is `From`. Stored once per message and status
    (a replayed callback, or the same status twice, adds nothing)."""
    channel = _verified_channel(request, "From")
    if channel is None:
        return forbidden()
    params = {key: request.POST.get(key, "") for key in request.POST}
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not sid or not status:
        return HttpResponse("MessageSid and MessageStatus are required", status=400)
    _store(channel, "status", f"{sid}:{status}", params)
    return HttpResponse(status=204)
