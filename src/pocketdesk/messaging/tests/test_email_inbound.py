"""Inbound mail through the signed webhook: verified, stored raw once per Message-ID, parsed by
the worker into the customer's thread (quotes and signatures stripped, HTML made text,
attachments kept or refused); refused requests store nothing."""

import hashlib
import hmac
import json
import time
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import ContactPoint
from pocketdesk.messaging.models import Channel, InboundEvent
from pocketdesk.messaging.services import channel_create

SECRET = "inbound-secret-for-tests-0123"
ADDRESS = "support@example.com"
PATH = "/webhooks/email/inbound"


@pytest.fixture
def channel(db):
    return channel_create(
        actor=None,
        kind="email",
        name="Example Support",
        address="Support@Example.com",
        credentials={"inbound_secret": SECRET},
    )


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def _sign(body: bytes, *, secret: str = SECRET, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _post(channel, raw: bytes, *, signature: str | None = "sign", channel_id=None, **kwargs):
    headers = {}
    if signature == "sign":
        signature = _sign(raw)
    if signature is not None:
        headers["HTTP_X_POCKETDESK_SIGNATURE"] = signature
    content_type = kwargs.pop("content_type", "message/rfc822")
    target = channel.public_id if channel_id is None else channel_id
    return Client().post(f"{PATH}?channel={target}", raw, content_type=content_type, **headers)


_ids = iter(range(1, 1_000_000))


def _mail(
    text: str | None = "Hello, my order has not arrived.",
    *,
    sender: str = "Grace Hopper <Grace@Customer.Example>",
    subject: str = "Order 1234",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ADDRESS
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or f"<m{next(_ids)}.{time.time_ns()}@customer.example>"
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    for name, value in (headers or {}).items():
        mail[name] = value
    if text is not None:
        mail.set_content(text)
        if html is not None:
            mail.add_alternative(html, subtype="html")
    elif html is not None:
        mail.set_content(html, subtype="html")
    return mail


def _work():
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_signed_mail_is_stored_raw_then_threaded_for_its_sender(channel):
    raw = _mail(message_id="<first@customer.example>").as_bytes(policy=SMTP)
    response = _post(channel, raw)
    assert response.status_code == 202
    assert response.json() == {"stored": True, "message_id": "<first@customer.example>"}
    event = InboundEvent.objects.get()
    assert event.state == "pending"  # stored before processing
    assert event.provider_event_id == "<first@customer.example>"
    assert event.payload["raw"].encode() == raw
    _work()
    message = Message.objects.get()
    assert message.text == "Hello, my order has not arrived."
    assert message.subject == "Order 1234"
    assert message.provider_id == "<first@customer.example>"
    point = ContactPoint.objects.get(kind="email")
    assert point.value == "grace@customer.example"
    assert point.customer.name == "Grace Hopper"
    assert message.conversation.customer_id == point.customer_id
    assert message.conversation.last_channel_id == channel.pk
    assert InboundEvent.objects.get().state == "processed"


@pytest.mark.parametrize(
    "case", ["unsigned", "forged", "stale", "future", "tampered", "unknown_channel", "no_v1"]
)
def test_refused_requests_store_nothing(channel, case):
    raw = _mail().as_bytes(policy=SMTP)
    now = int(time.time())
    signature = {
        "unsigned": None,
        "forged": _sign(raw, secret="another-secret-of-some-length"),
        "stale": _sign(raw, at=now - 301),
        "future": _sign(raw, at=now + 360),
        "tampered": _sign(_mail("something else").as_bytes(policy=SMTP)),
        "unknown_channel": _sign(raw),
        "no_v1": f"t={now}",
    }[case]
    channel_id = "chn_01hzzzzzzzzzzzzzzzzzzzzzzz" if case == "unknown_channel" else None
    response = _post(channel, raw, signature=signature, channel_id=channel_id)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not InboundEvent.objects.exists()


def test_a_signature_within_five_minutes_is_accepted(channel):
    raw = _mail().as_bytes(policy=SMTP)
    response = _post(channel, raw, signature=_sign(raw, at=int(time.time()) - 240))
    assert response.status_code == 202


def test_a_channel_without_a_secret_accepts_nothing(channel):
    # channel_create refuses such a channel; a row edited by hand must still not open the door
    Channel.objects.filter(pk=channel.pk).update(credentials={})
    raw = _mail().as_bytes(policy=SMTP)
    assert _post(channel, raw).status_code == 403
    assert _post(channel, raw, signature=_sign(raw, secret="")).status_code == 403
    assert not InboundEvent.objects.exists()


def test_another_kind_of_channel_is_not_a_mailbox(channel):
    sms = channel_create(
        actor=None,
        kind="twilio_sms",
        name="Line",
        address="+14155550197",
        credentials={"account_sid": "AC" + "4" * 32, "auth_token": SECRET},
    )
    raw = _mail().as_bytes(policy=SMTP)
    assert _post(channel, raw, channel_id=sms.public_id).status_code == 403


def test_the_body_must_be_a_raw_message(channel):
    raw = _mail().as_bytes(policy=SMTP)
    response = _post(channel, raw, content_type="application/json")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_replayed_delivery_is_stored_and_threaded_once(channel):
    raw = _mail().as_bytes(policy=SMTP)
    signature = _sign(raw)
    first = _post(channel, raw, signature=signature)
    again = _post(channel, raw, signature=signature)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["stored"] is False
    _work()
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_mail_without_message_id_is_still_stored_once(channel):
    mail = _mail()
    del mail["Message-ID"]
    raw = mail.as_bytes(policy=SMTP)
    _post(channel, raw)
    _post(channel, raw)
    _work()
    assert InboundEvent.objects.count() == 1
    assert Message.objects.get().provider_id.endswith("@no-message-id.invalid>")


@pytest.mark.django_db(transaction=True)
def test_a_new_mail_without_references_joins_the_open_conversation(channel):
    _post(channel, _mail("first problem").as_bytes(policy=SMTP))
    _post(channel, _mail("and another thing", subject="Something else").as_bytes(policy=SMTP))
    _work()
    conversation = Conversation.objects.get()
    texts = conversation.messages.order_by("created_at", "id").values_list("text", flat=True)
    assert list(texts) == ["first problem", "and another thing"]


QUOTED = [
    (
        "Thanks, that worked.\n\n"
        "On Mon, 3 Jun 2024 at 10:00, Example Support <support@example.com> wrote:\n"
        "> Please restart the router.\n> \n> Kind regards\n"
    ),
    (
        "Thanks, that worked.\n\n"
        "On Mon, 3 Jun 2024 at 10:00, Example Support <support@example.com>\n"
        "wrote:\n"
        "> Please restart the router.\n"
    ),
    (
        "Thanks, that worked.\n\n"
        "Le lun. 3 juin 2024 à 10:00, Example Support <support@example.com> a\u00a0écrit\u00a0:\n"
        "> Redémarrez le routeur.\n"
    ),
    (
        "Thanks, that worked.\n\n"
        "-----Original Message-----\n"
        "From: Example Support <support@example.com>\n"
        "Sent: Monday, June 3, 2024 10:00 AM\n"
        "Please restart the router.\n"
    ),
    (
        "Thanks, that worked.\n\n"
        "________________________________\n"
        "From: Example Support <support@example.com>\n"
        "Please restart the router.\n"
    ),
    "Thanks, that worked.\n\n-- \nGrace Hopper\nRear Admiral, Example Corp\n",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "body", QUOTED, ids=["on-wrote", "wrapped", "french", "outlook", "outlook-new", "sig"]
)
def test_quoted_history_and_signatures_are_stripped(channel, body):
    _post(channel, _mail(body).as_bytes(policy=SMTP))
    _work()
    assert Message.objects.get().text == "Thanks, that worked."


@pytest.mark.django_db(transaction=True)
def test_inline_quoted_lines_are_dropped_and_the_answers_kept(channel):
    body = "> Which model is it?\nThe X200.\n> And the serial?\nSN-42\n"
    _post(channel, _mail(body).as_bytes(policy=SMTP))
    _work()
    assert Message.objects.get().text == "The X200.\nSN-42"


@pytest.mark.django_db(transaction=True)
def test_html_only_mail_becomes_clean_text(channel):
    markup = (
        "<html><head><title>Newsletter</title><style>p { color: red }</style></head><body>"
        "<p>Hello &amp; thanks &lt;3</p><script>alert('owned')</script>"
        "<div>Line two<br>Line <b>three</b></div>"
        '<div class="gmail_quote">On Mon, Support wrote:<blockquote>old reply</blockquote></div>'
        "</body></html>"
    )
    _post(channel, _mail(None, html=markup).as_bytes(policy=SMTP))
    _work()
    text = Message.objects.get().text
    assert text == "Hello & thanks <3\nLine two\nLine three"
    for leaked in ("alert", "owned", "color", "Newsletter", "old reply", "<"):
        assert leaked not in text.replace("<3", "")


@pytest.mark.django_db(transaction=True)
def test_text_part_is_preferred_to_html(channel):
    _post(channel, _mail("plain version", html="<p>rich <i>version</i></p>").as_bytes(policy=SMTP))
    _work()
    assert Message.objects.get().text == "plain version"


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


@pytest.mark.django_db(transaction=True)
def test_allowed_attachments_are_stored_and_others_listed_as_blocked(channel, media_root):
    mail = _mail("Invoice and photo attached.", message_id="<att@customer.example>")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice 7.pdf")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="../../evil.html")
    mail.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload",
                        filename="setup.exe")  # fmt: skip
    mail.add_attachment(b"<svg onload='x'/>", maintype="image", subtype="svg+xml",
                        filename="logo.svg")  # fmt: skip
    mail.add_attachment(b"notes", maintype="text", subtype="plain", filename="..")
    _post(channel, mail.as_bytes(policy=SMTP))
    _work()
    message = Message.objects.get()
    assert message.text == "Invoice and photo attached."
    pdf, png, exe, svg, notes = message.media
    assert (pdf["name"], pdf["content_type"]) == ("invoice 7.pdf", "application/pdf")
    assert pdf["size"] == len(PDF)
    assert pdf["url"].startswith("/media/attachments/")
    stored_pdf = pdf["url"].removeprefix("/media/")
    with default_storage.open(stored_pdf) as handle:
        assert handle.read() == PDF
    # a file is kept with the extension of its allowed type, never as HTML
    assert png["url"].endswith(".png")
    assert png["url"].startswith("/media/attachments/")
    assert (media_root / png["url"].removeprefix("/media/")).read_bytes() == PNG
    assert exe == {
        "name": "setup.exe",
        "content_type": "application/x-msdownload",
        "size": 4,
        "blocked": True,
    }
    assert svg["blocked"] is True
    assert "url" not in svg
    assert notes["url"].endswith("/4-attachment.txt")
    files = sorted(p.name for p in (media_root / "attachments").rglob("*") if p.is_file())
    assert len(files) == 3


@pytest.mark.django_db(transaction=True)
def test_an_oversized_attachment_is_listed_not_stored(channel, media_root, settings):
    # Raw e-mail has its own body limit (PD_MAX_EMAIL_BYTES, 25 MiB), above the general 1 MiB.
    assert settings.PD_MAX_BODY_BYTES < 11 * 1024 * 1024 < settings.PD_MAX_EMAIL_BYTES
    big = b"\xff" * (10 * 1024 * 1024 + 1)
    mail = _mail("Video of the fault.")
    mail.add_attachment(big, maintype="image", subtype="jpeg", filename="fault.jpg")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt.pdf")
    assert _post(channel, mail.as_bytes(policy=SMTP)).status_code == 202
    _work()
    large, small = Message.objects.get().media
    assert large == {
        "name": "fault.jpg",
        "content_type": "image/jpeg",
        "size": len(big),
        "too_large": True,
    }
    assert "url" in small
    assert [p.name for p in (media_root / "attachments").rglob("*") if p.is_file()] == [
        "1-receipt.pdf"
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
        {"X-Autoreply": "yes"},
    ],
)
def test_auto_replies_are_stored_but_add_no_message(channel, headers):
    mail = _mail("I am out of office until Monday.", headers=headers)
    response = _post(channel, mail.as_bytes(policy=SMTP))
    assert response.status_code == 202
    _work()
    assert InboundEvent.objects.get().state == "processed"
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_mail_from_our_own_address_adds_no_message(channel):
    _post(channel, _mail("looping", sender=f"Example Support <{ADDRESS}>").as_bytes(policy=SMTP))
    _work()
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_latin1_8bit_message_is_kept_intact(channel):
    raw = (
        b"From: =?utf-8?q?Andr=C3=A9?= <andre@customer.example>\r\n"
        b"To: support@example.com\r\n"
        b"Subject: =?iso-8859-1?q?Caf=E9?=\r\n"
        b"Message-ID: <latin1@customer.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Le caf\xe9 cr\xe8me est froid.\r\n"
    )
    assert _post(channel, raw).status_code == 202
    assert InboundEvent.objects.get().payload["encoding"] == "base64"
    _work()
    message = Message.objects.get()
    assert (message.text, message.subject) == ("Le café crème est froid.", "Café")
    assert message.conversation.customer.name == "André"


@pytest.mark.django_db(transaction=True)
def test_a_sender_that_is_no_address_fails_the_event_not_the_worker(channel):
    _post(channel, _mail(sender="MAILER-DAEMON").as_bytes(policy=SMTP))
    _work()
    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert "not an email address" in event.error
    assert not Message.objects.exists()


# --- the channel ----------------------------------------------------------------------------------


def test_a_channel_needs_an_inbound_secret(db):
    with pytest.raises(ValidationFailed) as refused:
        channel_create(
            actor=None, kind="email", name="x", address=ADDRESS, credentials={"inbound_secret": ""}
        )
    assert refused.value.extra["errors"][0]["field"] == "inbound_secret"
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://mail.example.com", "smtp://", "smtp://host:notaport", "smtps//host"]
)
def test_a_bad_smtp_url_is_refused(db, url):
    with pytest.raises(ValidationFailed):
        channel_create(
            actor=None,
            kind="email",
            name="x",
            address=ADDRESS,
            credentials={"inbound_secret": SECRET, "smtp_url": url},
        )


def test_cli_adds_an_email_channel(db, capsys):
    call_command(
        "channels",
        "add",
        "email",
        "--name",
        "Support",
        "--address",
        " Support@Example.com ",
        "--inbound-secret",
        SECRET,
        "--smtp-url",
        "smtp+starttls://user:pw@smtp.example.com",
    )
    added = json.loads(capsys.readouterr().out)
    assert added["address"] == ADDRESS
    channel = Channel.objects.get(public_id=added["id"])
    assert channel.kind == "email"
    assert channel.credentials == {
        "inbound_secret": SECRET,
        "smtp_url": "smtp+starttls://user:pw@smtp.example.com",
    }
    call_command("channels", "list")
    assert SECRET not in capsys.readouterr().out


def test_cli_refuses_a_short_secret(db, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command(
            "channels", "add", "email", "--name", "S", "--address", ADDRESS, "--inbound-secret", "S"
        )
    assert exited.value.code == 2
    assert "inbound secret" in capsys.readouterr().err
    assert not Channel.objects.exists()


@pytest.mark.parametrize("signature", ["t=²,v1=00", "t=1,v1=é", f"t={10**40},v1=ab"])
def test_odd_signature_headers_are_refused_not_errors(channel, signature):
    response = _post(channel, _mail("Hello").as_bytes(), signature=signature)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()
