"""Local fake Twilio and Meta Graph servers speaking the providers' wire formats (tests, demo).

Twilio Programmable Messaging: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (Basic
auth), ``GET …/Messages/{Sid}.json``; status callbacks to ``StatusCallback`` signed with
``X-Twilio-Signature``. Meta Graph: ``POST /{version}/{phone_number_id}/messages`` (WhatsApp
Cloud API) and ``POST /{version}/me/messages`` (Messenger/Instagram) with a Bearer token; status
webhooks to ``meta_webhook_url`` signed with ``X-Hub-Signature-256``. ``GET /_fake/requests``
lists what was received, ``DELETE /_fake/requests`` clears it, ``GET /_fake/sent`` lists the
webhooks the fake posted. Files of inbound messages (``twilio_media_add``,
``whatsapp_media_add``) download as each provider serves them: Twilio's MediaUrl with Basic auth,
Graph's ``GET /{version}/{media_id}`` and then its download URL with the Bearer token.

Scripted outcomes, chosen by the last four digits of the recipient:

==========  ===========================================================================
``…0000``   Twilio: sent, then undelivered with ErrorCode 30005 (unknown handset).
            WhatsApp: failed with error 131026 (message undeliverable).
            Messenger: the send itself answers 400, (#10) outside the allowed window,
            error_subcode 2018278.
``…0001``   Twilio: failed with ErrorCode 30008 (unknown error), never sent.
            WhatsApp: failed with error 131047 (re-engagement message: outside the
            24-hour customer-service window).
``…0002``   Twilio: the delivered callback arrives before the sent one (Twilio does not
            promise order).
``…0003``   Twilio: the message is created at once but the API answers after
            ``slow_reply_seconds`` (a sender killed meanwhile has sent it; ``GET
            Messages.json?To=&From=&DateSent>=`` lists it).
otherwise   Twilio: sent, delivered (queued, sent, delivered through a Messaging Service).
            WhatsApp: sent, delivered, read. Messenger: delivery, read.
==========  ===========================================================================

Webhooks that meet a connection error or a 5xx are retried after each of ``retry_delays``.
Run it with ``pocketdesk fake-providers --port P`` or ``python -m
pocketdesk.messaging.fake_providers --port P``.

Layout: ``server`` (FakeProviders, HTTP, records, webhook delivery), ``twilio`` and ``meta``
(per-provider handling and scripted outcomes), ``media`` (inbound files), ``wire`` (ids,
signatures, error bodies), ``cli``. SMS segment counting lives in ``pocketdesk.messaging.segments``.
"""

from pocketdesk.messaging.fake_providers.cli import add_cli_arguments, main, run_cli
from pocketdesk.messaging.fake_providers.meta import GRAPH_VERSION
from pocketdesk.messaging.fake_providers.server import FakeProviders, ReceivedRequest, SentWebhook
from pocketdesk.messaging.fake_providers.twilio import TWILIO_API_VERSION
from pocketdesk.messaging.fake_providers.wire import (
    messenger_message_id,
    meta_json,
    meta_signature,
    twilio_sid,
    whatsapp_message_id,
)
from pocketdesk.messaging.segments import SmsSegments, sms_segments

__all__ = [
    "GRAPH_VERSION",
    "TWILIO_API_VERSION",
    "FakeProviders",
    "ReceivedRequest",
    "SentWebhook",
    "SmsSegments",
    "add_cli_arguments",
    "main",
    "messenger_message_id",
    "meta_json",
    "meta_signature",
    "run_cli",
    "sms_segments",
    "twilio_sid",
    "whatsapp_message_id",
]
