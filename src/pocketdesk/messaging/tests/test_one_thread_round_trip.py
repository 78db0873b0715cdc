"""One customer writes by SMS, then WhatsApp, then e-mail: one thread, and each reply goes back
on the channel they last used — through the fake Twilio and Meta APIs and a real SMTP sink, with
the providers' signed webhooks calling a live server."""

import hashlib
import hmac
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from django.core.management import call_command
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.customers.services import contact_point_add
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.services import channel_create

SID, TOKEN, NUMBER = "AC" + "7" * 32, "twilio-token-round-trip", "+14155550111"
PNID, APP_SECRET, ACCESS = "100000000000777", "meta-app-secret-round-trip", "meta-access-round-trip"
MAILBOX, INBOUND_SECRET = "support@shop.example", "email-inbound-secret-round-trip"
PHONE, EMAIL = "+447911123470", "ada@customer.example"


class Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.received.append(envelope.content)
        return "250 2.0.0 Accepted"


@pytest.fixture
def sink():
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _mail_in(channel, text: str) -> int:
    mail = EmailMessage()
    mail["From"], mail["To"] = f"Ada <{EMAIL}>", MAILBOX
    mail["Subject"], mail["Message-ID"] = "Parcel 55123", "<m1@customer.example>"
    mail.set_content(text)
    raw, at = mail.as_bytes(), int(time.time())
    mac = hmac.new(INBOUND_SECRET.encode(), f"{at}.".encode() + raw, hashlib.sha256).hexdigest()
    return (
        Client()
        .post(
            f"/webhooks/email/inbound?channel={channel.public_id}",
            raw,
            content_type="message/rfc822",
            HTTP_X_POCKETDESK_SIGNATURE=f"t={at},v1={mac}",
        )
        .status_code
    )


@pytest.mark.django_db(transaction=True)
def test_sms_whatsapp_and_email_make_one_thread(live_server, settings, sink, agent, make_customer):
    settings.PD_PUBLIC_URL = live_server.url
    handler, smtp_port = sink
    customer = make_customer(name="Ada", phone=PHONE, email=EMAIL)
    contact_point_add(actor=None, customer=customer, kind="whatsapp", value=PHONE)
    with FakeProviders(
        twilio_accounts={SID: TOKEN},
        meta_tokens=[ACCESS],
        meta_app_secret=APP_SECRET,
        meta_webhook_url=live_server.url + "/webhooks/meta",
        meta_phone_numbers={PNID: "15550000777"},
        status_delay=0.02,
    ) as fake:
        sms = channel_create(
            actor=None,
            kind="twilio_sms",
            name="SMS",
            address=NUMBER,
            credentials={"account_sid": SID, "auth_token": TOKEN},
            api_base=fake.base_url,
        )
        whatsapp = channel_create(
            actor=None,
            kind="whatsapp",
            name="WhatsApp",
            address=PNID,
            credentials={
                "app_secret": APP_SECRET,
                "verify_token": "verify-round-trip",
                "access_token": ACCESS,
            },
            api_base=fake.base_url,
        )
        email = channel_create(
            actor=None,
            kind="email",
            name="Shop support",
            address=MAILBOX,
            credentials={
                "inbound_secret": INBOUND_SECRET,
                "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
            },
        )

        # when: SMS in, reply; WhatsApp in, reply; e-mail in, reply
        sms_url = live_server.url + "/webhooks/twilio/sms"
        assert fake.send_inbound_sms(sms_url, PHONE, NUMBER, "Parcel 55123 is late", TOKEN) == 200
        _work()
        thread = Conversation.objects.get(customer=customer)
        message_send(actor=agent, conversation=thread, text="Checking with the carrier now.")
        _work()
        status = fake.send_inbound_whatsapp(
            live_server.url + "/webhooks/meta",
            PHONE.lstrip("+"),
            "Here is a photo of the label",
            phone_number_id=PNID,
        )
        assert status == 200
        _work()
        message_send(actor=agent, conversation=thread, text="Thanks, that helps.")
        _work()
        assert _mail_in(email, "Could you e-mail me the claim form?") == 202
        _work()
        message_send(actor=agent, conversation=thread, text="Attached is the claim form link.")
        _work()
        assert fake.wait_idle(5)
        _work()  # the providers' receipts

        # then: one thread, each reply on the channel the customer had just used
        assert Conversation.objects.filter(customer=customer).count() == 1
        rows = list(
            Message.objects.filter(conversation=thread)
            .order_by("created_at", "pk")
            .values_list("direction", "channel__kind")
        )
        assert rows == [
            ("inbound", "twilio_sms"),
            ("outbound", "twilio_sms"),
            ("inbound", "whatsapp"),
            ("outbound", "whatsapp"),
            ("inbound", "email"),
            ("outbound", "email"),
        ]
        twilio_sends = [
            r
            for r in fake.received
            if r["path"].endswith("/Messages.json") and r["method"] == "POST"
        ]
        assert [r["params"]["Body"] for r in twilio_sends] == [["Checking with the carrier now."]]
        graph_sends = [r for r in fake.received if r["path"].endswith(f"/{PNID}/messages")]
        assert [r["json"]["text"]["body"] for r in graph_sends] == ["Thanks, that helps."]
        (mail,) = [BytesParser(policy=default_policy).parsebytes(raw) for raw in handler.received]
        assert mail["To"] == EMAIL
        assert mail["In-Reply-To"] == "<m1@customer.example>"
        assert "claim form link" in mail.get_body(("plain",)).get_content()
        statuses = dict(
            Outbound.objects.filter(message__conversation=thread).values_list(
                "channel__kind", "status"
            )
        )
        assert statuses["twilio_sms"] == "delivered"
        assert statuses["whatsapp"] in {"delivered", "read"}
        assert statuses["email"] == "sent"
        assert {sms.pk, whatsapp.pk, email.pk} == set(
            Message.objects.filter(conversation=thread).values_list("channel_id", flat=True)
        )
