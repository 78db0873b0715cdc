"""Provider webhooks. Every request is verified against the channel's secret; a channel without
one, an unsigned, forged or unknown-number request gets 403 and nothing is stored."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.services import phone_normalize
from pocketdesk.messaging import services, tasks, twilio_sms
from pocketdesk.messaging.models import Channel, ChannelKind

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _forbidden() -> HttpResponse:
    return HttpResponse("forbidden", status=403, content_type="text/plain")


@csrf_exempt
@require_POST
def twilio_sms_inbound(request: HttpRequest) -> HttpResponse:
    try:
        number = phone_normalize(request.POST.get("To", ""))
    except ValidationFailed:
        return _forbidden()
    channel = Channel.objects.filter(
        kind=ChannelKind.TWILIO_SMS, address=number, is_active=True
    ).first()
    if channel is None or not twilio_sms.signature_valid(request, channel):
        return _forbidden()
    params = {key: request.POST.get(key, "") for key in request.POST}
    if params.get("AccountSid") != channel.credentials.get("account_sid"):
        return _forbidden()
    event, created = services.inbound_event_store(
        channel=channel, kind="message", provider_event_id=params.get("MessageSid"), payload=params
    )
    if created:
        enqueue_on_commit(tasks.inbound_event_process, event.pk)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
