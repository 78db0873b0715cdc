"""E-mail end to end against a real SMTP server (aiosmtpd): an agent's reply leaves through the
outbox as a threaded MIME message, the customer's answer comes back through the signed webhook
into the same thread, SMTP refusals are retried or final, and a customer who moves from SMS
to e-mail keeps one thread and is answered by e-mail."""

import hashlib
import hmac
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import free_port
from django.core.management import call_command
from django.test import Client
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import contact_point_add
from pocketdesk.messaging.fake_providers import twilio_sid
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.services import channel_create

SECRET = "inbound-secret-for-tests-4567"
ADDRESS = "support@example.com"
SMTP_USER, SMTP_PASSWORD = "mailer", "p@ss:word"
SMTP_PASSWORD_IN_URL = "p%40ss%3Aword"
BUSY, GONE = "busy@customer.example", "gone@customer.example"
# The sink takes a login over plain TCP on loopback, which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Sink:
    """An SMTP server that keeps what it accepts; some recipients get scripted refusals."""

    REFUSALS = {BUSY: "451 4.3.0 Mailbox busy, try again later", GONE: "550 5.1.1 No such user"}

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.REFUSALS:
            return self.REFUSALS[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Accepted"

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=default_policy) for _, _, raw in self.received]


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting)
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def smtp_server():
    handler = Sink()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticate,
        auth_required=True,  # a login that fails or is skipped cannot send
        auth_require_tls=False,
    )
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def sink(smtp_server):
    handler: Sink = smtp_server.handler
    handler.received.clear()
    return handler


@pytest.fixture
def smtp_url(smtp_server):
    return f"smtp://{SMTP_USER}:{SMTP_PASSWORD_IN_URL}@127.0.0.1:{smtp_server.port}"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


@pytest.fixture
def channel(db, smtp_url):
    return channel_create(
        actor=None,
        kind="email",
        name="Example Support",
        address=ADDRESS,
        credentials={"inbound_secret": SECRET, "smtp_url": smtp_url},
    )


def _post_mail(channel, mail: EmailMessage) -> int:
    raw = mail.as_bytes()
    t = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    response = Client().post(
        f"/webhooks/email/inbound?channel={channel.public_id}",
        raw,
        content_type="message/rfc822",
        HTTP_X_POCKETDESK_SIGNATURE=f"t={t},v1={mac}",
    )
    return response.status_code


def _mail(text, *, sender, subject, message_id, in_reply_to=None, references=()):
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = f"Example Support <{ADDRESS}>"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = " ".join(references)
    mail.set_content(text)
    return mail


def _work():
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content().replace("\r\n", "\n")


@pytest.mark.django_db(transaction=True)
def test_a_reply_is_mailed_threaded_and_the_answer_returns_to_its_thread(channel, sink, agent):
    # given: the customer's first mail opened a thread
    customer_mail = "Grace Hopper <grace@customer.example>"
    assert (
        _post_mail(
            channel,
            _mail(
                "My router keeps rebooting.",
                sender=customer_mail,
                subject="Router keeps rebooting",
                message_id="<q1@customer.example>",
            ),
        )
        == 202
    )
    _work()
    thread = Conversation.objects.get()

    # when: an agent answers
    reply = message_send(
        actor=agent, conversation=thread, text="Hold the reset button for 10 s.\n\nThen <tell> us."
    )
    _work()

    # then: the SMTP server got one threaded MIME message whose Message-ID is the provider id
    outbound = Outbound.objects.get(pk=reply.outbound_id)
    assert outbound.status == "sent"
    assert len(sink.received) == 1
    mail_from, rcpt_tos, _ = sink.received[0]
    assert (mail_from, rcpt_tos) == (ADDRESS, ["grace@customer.example"])
    sent = sink.messages()[0]
    assert sent["Message-ID"] == outbound.provider_id
    assert outbound.provider_id.startswith("<")
    assert outbound.provider_id.endswith("@example.com>")
    assert sent["Subject"] == "Re: Router keeps rebooting"
    assert sent["From"] == f"Example Support <{ADDRESS}>"
    assert sent["To"] == "grace@customer.example"
    assert sent["In-Reply-To"] == "<q1@customer.example>"
    assert sent["References"].split() == ["<q1@customer.example>"]
    assert _body(sent, "plain").strip() == "Hold the reset button for 10 s.\n\nThen <tell> us."
    rich = _body(sent, "html")
    assert "Then &lt;tell&gt; us." in rich
    assert "<tell>" not in rich

    # and: once that thread is resolved, a fresh mail opens another one …
    Conversation.objects.filter(pk=thread.pk).update(status="resolved")
    _post_mail(
        channel,
        _mail(
            "Another question about my bill.",
            sender=customer_mail,
            subject="Bill",
            message_id="<q2@customer.example>",
        ),
    )
    _work()
    assert Conversation.objects.count() == 2

    # … and the answer to our mail still joins the thread it answers, quote stripped
    _post_mail(
        channel,
        _mail(
            "That fixed it, thank you!\n\n"
            "On Mon, 3 Jun 2024 at 10:00, Example Support <support@example.com> wrote:\n"
            "> Hold the reset button for 10 s.\n> \n> Then <tell> us.\n",
            sender=customer_mail,
            subject="Re: Router keeps rebooting",
            message_id="<q3@customer.example>",
            in_reply_to=outbound.provider_id,
            references=["<q1@customer.example>", outbound.provider_id],
        ),
    )
    _work()
    answer = Message.objects.get(provider_id="<q3@customer.example>")
    assert answer.conversation_id == thread.pk
    assert answer.text == "That fixed it, thank you!"
    assert Conversation.objects.get(pk=thread.pk).status == "open"

    # and: the next reply references the whole thread, with a single "Re:"
    message_send(actor=agent, conversation=thread, text="Glad to hear it.")
    _work()
    second = sink.messages()[1]
    assert second["Subject"] == "Re: Router keeps rebooting"
    assert second["In-Reply-To"] == "<q3@customer.example>"
    assert second["References"].split() == [
        "<q1@customer.example>",
        outbound.provider_id,
        "<q3@customer.example>",
    ]
    assert second["Message-ID"] != sent["Message-ID"]


@pytest.mark.django_db(transaction=True)
def test_without_an_smtp_url_the_configured_mailer_sends(db, sink, smtp_server, settings, agent):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "username": SMTP_USER,
                "password": SMTP_PASSWORD,
                "timeout": 5,
            },
        }
    }
    channel = channel_create(
        actor=None,
        kind="email",
        name="Example Support",
        address=ADDRESS,
        credentials={"inbound_secret": SECRET},
    )
    _post_mail(
        channel,
        _mail(
            "See below.",
            sender="ada@customer.example",
            subject="RE: invoice 77",
            message_id="<fw1@customer.example>",
        ),
    )
    _work()
    reply = message_send(actor=agent, conversation=Conversation.objects.get(), text="Thanks!")
    _work()
    outbound = Outbound.objects.get(pk=reply.outbound_id)
    assert outbound.status == "sent"
    (sent,) = sink.messages()
    assert sent["Message-ID"] == outbound.provider_id
    assert sent["Subject"] == "RE: invoice 77"  # already a reply: no second prefix
    assert sent["In-Reply-To"] == "<fw1@customer.example>"


def _reply_to(channel, agent, sender: str) -> Outbound:
    _post_mail(
        channel,
        _mail("Help", sender=sender, subject="Help", message_id=f"<{time.time_ns()}@c.example>"),
    )
    _work()
    thread = Conversation.objects.get(customer__contact_points__value=sender)
    reply = message_send(actor=agent, conversation=thread, text="On it.")
    _work()
    return Outbound.objects.get(pk=reply.outbound_id)


@pytest.mark.django_db(transaction=True)
def test_a_4xx_reply_is_retried_later_and_a_5xx_fails_the_message(channel, sink, agent):
    busy = _reply_to(channel, agent, BUSY)
    assert (busy.status, busy.error_code, busy.attempts) == ("queued", "smtp_451", 1)
    assert "try again later" in busy.error_detail
    assert busy.next_attempt_at > busy.updated_at
    gone = _reply_to(channel, agent, GONE)
    assert (gone.status, gone.error_code) == ("failed", "smtp_550")
    assert "No such user" in gone.error_detail
    assert sink.received == []


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_server_is_retried_later(db, agent):
    closed = free_port()  # nothing listens there
    channel = channel_create(
        actor=None,
        kind="email",
        name="Example Support",
        address=ADDRESS,
        credentials={"inbound_secret": SECRET, "smtp_url": f"smtp://127.0.0.1:{closed}"},
    )
    outbound = _reply_to(channel, agent, "ada@customer.example")
    assert (outbound.status, outbound.error_code) == ("queued", "smtp_unreachable")


@pytest.mark.django_db(transaction=True)
def test_a_wrong_smtp_password_is_final(db, smtp_server, agent):
    channel = channel_create(
        actor=None,
        kind="email",
        name="Example Support",
        address=ADDRESS,
        credentials={
            "inbound_secret": SECRET,
            "smtp_url": f"smtp://{SMTP_USER}:wrong@127.0.0.1:{smtp_server.port}",
        },
    )
    outbound = _reply_to(channel, agent, "ada@customer.example")
    assert (outbound.status, outbound.error_code) == ("failed", "smtp_535")


# --- one customer, two channels -------------------------------------------------------------------

TWILIO_SID = "AC" + "5" * 32
TWILIO_TOKEN = "twilio-auth-token-for-email-tests"
TWILIO_NUMBER = "+14155550196"


@pytest.mark.django_db(transaction=True)
def test_sms_then_email_from_one_customer_is_one_thread_answered_by_email(
    channel, sink, agent, make_customer, settings
):
    # given: one customer with a phone and an e-mail address, and an SMS line
    customer = make_customer(name="Ada Lovelace", phone="+44 7911 123461")
    point = contact_point_add(
        actor=None, customer=customer, kind="email", value="Ada@Customer.Example", verified=True
    )
    sms = channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support line",
        address=TWILIO_NUMBER,
        credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
        api_base="http://127.0.0.1:9",  # were the reply sent by SMS, it would fail here
    )

    # when: she texts, then writes an e-mail
    params = {
        "MessageSid": twilio_sid("SM"),
        "AccountSid": TWILIO_SID,
        "From": "+447911123461",
        "To": TWILIO_NUMBER,
        "Body": "My parcel is late",
        "NumMedia": "0",
    }
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        settings.PD_PUBLIC_URL + "/webhooks/twilio/sms", params
    )
    response = Client().post("/webhooks/twilio/sms", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200
    _work()
    _post_mail(
        channel,
        _mail(
            "Here is the tracking number: 1Z999.",
            sender="Ada Lovelace <ada@customer.example>",
            subject="Late parcel",
            message_id="<ada1@customer.example>",
        ),
    )
    _work()

    # then: one customer, one thread holding both messages
    assert Customer.objects.count() == 1
    thread = Conversation.objects.get()
    assert thread.customer_id == customer.pk
    inbound = thread.messages.order_by("created_at", "id")
    assert [(m.channel_id, m.text) for m in inbound] == [
        (sms.pk, "My parcel is late"),
        (channel.pk, "Here is the tracking number: 1Z999."),
    ]

    # and: the agent's reply goes by e-mail, the channel she last used
    reply = message_send(actor=agent, conversation=thread, text="Thanks, it arrives tomorrow.")
    _work()
    outbound = Outbound.objects.get(pk=reply.outbound_id)
    assert (outbound.channel_id, outbound.status) == (channel.pk, "sent")
    assert outbound.contact_point_id == point.pk
    (sent,) = sink.messages()
    assert sent["To"] == "ada@customer.example"
    assert sent["Subject"] == "Re: Late parcel"
    assert sent["In-Reply-To"] == "<ada1@customer.example>"
    assert sent["Message-ID"] == outbound.provider_id
    assert _body(sent, "plain").strip() == "Thanks, it arrives tomorrow."
