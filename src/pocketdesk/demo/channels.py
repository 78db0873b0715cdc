"""The demo's channels, wired to the local fake providers (`pocketdesk fake-providers`, started
by `pocketdesk serve` in demo mode), and a few conversations across them for the demo logins.
Everything here is idempotent: `make demo` runs it on every start."""

import os
import sys

from django.conf import settings

from pocketdesk.accounts.models import Role, User
from pocketdesk.conversations.models import Conversation
from pocketdesk.conversations.services.messages import message_send, messages_receive
from pocketdesk.core import clock
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import ContactPoint, Customer
from pocketdesk.customers.services import contact_point_add
from pocketdesk.messaging.adapters.webchat import channel_webchat
from pocketdesk.messaging.fake_providers import twilio_sid, whatsapp_message_id
from pocketdesk.messaging.handlers import InboundMessage
from pocketdesk.messaging.models import Channel, ChannelKind
from pocketdesk.messaging.services import channel_create

TWILIO_ACCOUNT = "AC" + "d" * 32
TWILIO_TOKEN = "demo-twilio-auth-token"  # noqa: S105 - the local fake's demo account
TWILIO_NUMBER = "+14155550100"
META_PHONE_NUMBER_ID = "100000000000001"
META_APP_SECRET = "demo-meta-app-secret"  # noqa: S105 - the local fake's demo app
META_VERIFY_TOKEN = "demo-meta-verify-token"  # noqa: S105
META_ACCESS_TOKEN = "demo-meta-access-token"  # noqa: S105
EMAIL_ADDRESS = "support@example.com"
EMAIL_INBOUND_SECRET = "demo-email-inbound-secret"  # noqa: S105
DEFAULT_FAKE_URL = "http://127.0.0.1:8090"


def fake_providers_url() -> str:
    return os.environ.get("PD_FAKE_PROVIDERS_URL", DEFAULT_FAKE_URL).rstrip("/")


def fake_providers_command() -> list[str]:
    """The fake providers' command line, with the demo's accounts and our webhook URL."""
    port = fake_providers_url().rsplit(":", 1)[-1]
    return [
        sys.executable, "-m", "pocketdesk", "fake-providers", "--port", port,
        "--twilio-account", f"{TWILIO_ACCOUNT}:{TWILIO_TOKEN}",
        "--meta-token", META_ACCESS_TOKEN, "--meta-app-secret", META_APP_SECRET,
        "--meta-webhook-url", f"{settings.PD_PUBLIC_URL}/webhooks/meta",
    ]  # fmt: skip


def _channel(
    kind: str, address: str, *, name: str, credentials: dict[str, str], api_base: str = ""
) -> Channel:
    existing = Channel.objects.filter(kind=kind, address=address).first()
    if existing is not None:
        return existing
    return channel_create(
        actor=None,
        kind=kind,
        name=name,
        address=address,
        credentials=credentials,
        api_base=api_base,
    )


def seed_channels() -> dict[str, Channel]:
    fake = fake_providers_url()
    channels = {
        "sms": _channel(
            ChannelKind.TWILIO_SMS,
            TWILIO_NUMBER,
            name="Support SMS",
            credentials={"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN},
            api_base=fake,
        ),
        "whatsapp": _channel(
            ChannelKind.WHATSAPP,
            META_PHONE_NUMBER_ID,
            name="Support WhatsApp",
            credentials={
                "app_secret": META_APP_SECRET,
                "verify_token": META_VERIFY_TOKEN,
                "access_token": META_ACCESS_TOKEN,
            },
            api_base=fake,
        ),
        "email": _channel(
            ChannelKind.EMAIL,
            EMAIL_ADDRESS,
            name="Support",
            credentials={"inbound_secret": EMAIL_INBOUND_SECRET},
        ),
        "webchat": channel_webchat(),
    }
    if settings.PD_VAPID_PRIVATE_KEY:
        channels["webpush"] = _channel(ChannelKind.WEBPUSH, "push", name="Push", credentials={})
    return channels


def seed_conversations(channels: dict[str, Channel], customer: Customer) -> int:
    """The demo customer's thread across SMS and WhatsApp with an agent's answer, and a few
    unassigned SMS threads from seeded customers for the inbox. Only on a database without any."""
    if Conversation.objects.exists():
        return Conversation.objects.count()
    agent = User.objects.get(email__iexact="agent@example.com", role=Role.AGENT)
    phone = customer.contact_points.get(kind=ContactKind.PHONE)
    whatsapp = ContactPoint.objects.filter(kind=ContactKind.WHATSAPP, value=phone.value).first()
    if whatsapp is None:
        whatsapp = contact_point_add(
            actor=None, customer=customer, kind=ContactKind.WHATSAPP, value=phone.value
        )

    def inbound(
        channel: Channel, point: ContactPoint, text: str, provider_id: str
    ) -> InboundMessage:
        return InboundMessage(
            channel_id=channel.pk,
            customer_id=point.customer_id,
            contact_point_id=point.pk,
            text=text,
            provider_id=provider_id,
            received_at=clock.now(),
        )

    messages_receive(
        [inbound(channels["sms"], phone, "Hi, my Aster R3 keeps stopping halfway through "
                 "the living room. It's only 6 weeks old.", twilio_sid("SM"))]
    )  # fmt: skip
    thread = Conversation.objects.get(customer=customer)
    message_send(
        actor=agent,
        conversation=thread,
        text="Sorry to hear that! Could you send me a photo of the brushes underneath?",
    )
    messages_receive(
        [inbound(channels["whatsapp"], whatsapp, "Sure, sending it on WhatsApp - easier "
                 "for photos.", whatsapp_message_id(phone.value.lstrip("+")))]
    )  # fmt: skip
    others = ContactPoint.objects.filter(
        kind=ContactKind.PHONE, customer__user__isnull=True
    ).order_by("pk")[:6]
    questions = [
        "Where is my order? It said delivered yesterday but nothing is here.",
        "Can I change my delivery address for order 55123?",
        "The app won't let me log in since the update.",
        "Do you have the replacement filter for the R3 in stock?",
        "I was charged twice for the same order!!",
        "What time does the store close today?",
    ]
    messages_receive(
        [
            inbound(channels["sms"], point, text, twilio_sid("SM"))
            for point, text in zip(others, questions, strict=False)
        ]
    )
    return Conversation.objects.count()
