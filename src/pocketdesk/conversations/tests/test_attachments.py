"""Files customers send, served at /media/attachments/…: an MMS downloaded from the fake Twilio
opens for support staff and for the customer who sent it, and for nobody else."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import Message
from pocketdesk.messaging.fake_providers import FakeProviders, twilio_sid
from pocketdesk.messaging.services import channel_create

SID = "AC" + "4" * 32
TOKEN = "twilio-auth-token-attachments"
NUMBER = "+14155550142"
CUSTOMER_PHONE = "+447911123460"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
NOTES = b"Serial number: PD-1234\n"

# The worker runs in its own transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with FakeProviders(twilio_accounts={SID: TOKEN}) as fake:
        yield fake


@pytest.fixture
def channel(fake: FakeProviders) -> Any:
    return channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support line",
        address=NUMBER,
        credentials={"account_sid": SID, "auth_token": TOKEN},
        api_base=fake.base_url,
    )


def _mms(
    settings: Any,
    fake: FakeProviders,
    files: list[tuple[bytes, str]],
    *,
    sender: str = CUSTOMER_PHONE,
    to: str = NUMBER,
    sid: str | None = None,
) -> Message:
    """An MMS whose files the fake Twilio serves, processed by the worker."""
    sid = sid or twilio_sid("MM")
    params = {
        "MessageSid": sid,
        "AccountSid": SID,
        "From": sender,
        "To": to,
        "Body": "",
        "NumMedia": str(len(files)),
    }
    for index, (data, content_type) in enumerate(files):
        params[f"MediaUrl{index}"] = fake.twilio_media_add(SID, sid, data, content_type)
        params[f"MediaContentType{index}"] = content_type
    path = "/webhooks/twilio/sms"
    signature = RequestValidator(TOKEN).compute_signature(settings.PD_PUBLIC_URL + path, params)
    response = Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    return Message.objects.get(provider_id=sid, channel__address=to)


def _client(user: Any = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_an_mms_is_opened_by_support_and_by_the_customer_who_sent_it(
    channel, fake, settings, agent, make_customer
):
    # given: a customer with a login sends a photo and a text file by MMS
    customer = make_customer(phone=CUSTOMER_PHONE)
    message = _mms(settings, fake, [(PNG, "image/png"), (NOTES, "text/plain")])
    assert message.conversation.customer_id == customer.pk
    photo, notes = message.media
    assert photo["url"].startswith("/media/attachments/")
    assert (photo["content_type"], photo["size"]) == ("image/png", len(PNG))
    # Twilio's media URL was fetched with the account's Basic auth
    downloads = [r for r in fake.received if "/Media/" in r["path"]]
    assert [(r["status"], r["auth_ok"]) for r in downloads] == [(200, True), (200, True)]

    for user in (agent, customer.user):
        # when
        response = _client(user).get(photo["url"])
        # then: the image is shown, sandboxed, never sniffed into something else
        assert response.status_code == 200
        assert _body(response) == PNG
        assert response["Content-Type"] == "image/png"
        assert response["Content-Disposition"].startswith("inline")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "sandbox"
        assert "private" in response["Cache-Control"]
        # anything but an image or a PDF is downloaded, not shown
        text = _client(user).get(notes["url"])
        assert (text.status_code, _body(text)) == (200, NOTES)
        assert text["Content-Disposition"] == 'attachment; filename="attachment.txt"'


def test_another_customer_an_employee_and_anonymous_get_404(
    channel, fake, settings, make_customer, make_user
):
    make_customer(phone=CUSTOMER_PHONE)
    url = _mms(settings, fake, [(PNG, "image/png")]).media[0]["url"]
    other = make_customer(name="Someone Else")
    for client in (_client(other.user), _client(make_user("employee")), _client()):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_a_customer_cannot_open_a_file_their_thread_does_not_list(
    channel, fake, settings, make_customer
):
    # A lead's message (the sender has no login) lists the file; the customer's thread does not.
    theirs = _mms(settings, fake, [(PNG, "image/png")]).media[0]["url"]
    customer = make_customer(phone="+447911123461")
    assert _client(customer.user).get(theirs).status_code == 404


def test_a_reused_message_id_does_not_open_the_first_senders_file(
    channel, fake, settings, make_customer
):
    # given: a second line of the same account, and an MMS id seen on the first line again
    channel_create(
        actor=None,
        kind="twilio_sms",
        name="Sales line",
        address="+14155550143",
        credentials={"account_sid": SID, "auth_token": TOKEN},
        api_base=fake.base_url,
    )
    make_customer(phone=CUSTOMER_PHONE)
    sid = twilio_sid("MM")
    first = _mms(settings, fake, [(PNG, "image/png")], sid=sid).media[0]
    other = make_customer(name="Mallory", phone="+447911123462")
    # when
    second = _mms(
        settings, fake, [(PNG + b"\x00", "image/png")], sender="+447911123462",
        to="+14155550143", sid=sid,
    ).media[0]  # fmt: skip
    # then: same folder, but the other bytes got a file of their own
    assert second["path"].rsplit("/", 1)[0] == first["path"].rsplit("/", 1)[0]
    assert second["path"] != first["path"]
    assert _client(other.user).get(first["url"]).status_code == 404
    assert _body(_client(other.user).get(second["url"])) == PNG + b"\x00"


@pytest.mark.parametrize(
    "path",
    [
        "/media/attachments/0123456789abcdef/0-missing.png",
        "/media/attachments/../secret.txt",
        "/media/attachments/a/../../secret.txt",
        "/media/attachments/..%2Fsecret.txt",
        "/media/attachments/secret.txt",
    ],
)
def test_staff_get_404_for_anything_but_a_kept_file(agent, media_root, path):
    (media_root / "secret.txt").write_text("not an attachment")
    (media_root / "attachments").mkdir()
    (media_root / "attachments" / "secret.txt").write_text("not in a message folder")
    assert _client(agent).get(path).status_code == 404


def test_the_console_thread_links_kept_files_and_says_why_others_are_missing(
    channel, fake, settings, agent, make_customer
):
    make_customer(phone=CUSTOMER_PHONE)
    message = _mms(settings, fake, [(PNG, "image/png"), (b"MZ", "application/x-msdownload")])
    kept, blocked = message.media
    page = _client(agent).get(f"/console/conversations/{message.conversation.public_id}/")
    html = page.content.decode()
    assert f'href="{kept["url"]}"' in html
    assert "file type not accepted" in html
    assert "url" not in blocked
