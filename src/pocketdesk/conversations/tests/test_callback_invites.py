"""The callback invitation end to end: the customer books through the link sent by SMS (to a
local fake Twilio), the worker e-mails an iCalendar invitation to a real SMTP server (aiosmtpd),
and it parses back as a valid REQUEST; cancelling sends the matching CANCEL."""

from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from django.core.management import call_command
from django.test import Client
from icalendar import Calendar

from pocketdesk.conversations.models import Callback
from pocketdesk.conversations.services.callback_offers import callback_offer
from pocketdesk.conversations.services.callbacks import callback_cancel
from pocketdesk.conversations.tests.callback_factories import (
    MONDAY_8AM,
    link_token,
    london_team,
    sms_conversation,
    utc,
)
from pocketdesk.conversations.tests.factories import customer_says
from pocketdesk.core import clock
from pocketdesk.customers.services import customer_create
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.services import channel_create

SID = "AC" + "7" * 32
TOKEN = "twilio-token-for-invite-tests"


class Sink:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Accepted"

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=default_policy) for _, raw in self.received]  # type: ignore[misc]


@pytest.fixture
def sink(settings: Any) -> Iterator[Sink]:
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
        }
    }
    settings.DEFAULT_FROM_EMAIL = "Example Support <help@support.example>"
    yield handler
    controller.stop()


@pytest.fixture
def channel() -> Iterator[Any]:
    with FakeProviders(twilio_accounts={SID: TOKEN}) as fake:
        yield channel_create(
            actor=None,
            kind="twilio_sms",
            name="Support line",
            address="+14155550123",
            credentials={"account_sid": SID, "auth_token": TOKEN},
            api_base=fake.base_url,
        )


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _calendar(message: EmailMessage) -> Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    return Calendar.from_ical(parts[0].get_payload(decode=True))


@pytest.mark.django_db(transaction=True)
def test_the_invitation_reaches_the_customer_as_a_valid_ics(sink, channel, make_customer, agent):
    with clock.frozen_at(MONDAY_8AM):
        london_team()
        conversation = sms_conversation(
            make_customer, channel, email="ada@customer.example", name="Ada Lovelace"
        )
        offer = callback_offer(actor=agent, conversation=conversation)
        _work()  # the offer's SMS goes out to the fake Twilio
        booked = Client().post(
            f"/app/callback/{link_token(offer.message)}/", {"slot": offer.slots[1]}
        )
        assert booked.status_code == 200
        _work()

        callback = Callback.objects.get()
        assert callback.invite_sent_at == MONDAY_8AM
        (invite,) = sink.messages()
        assert sink.received[0][0] == ["ada@customer.example"]
        assert invite["Subject"] == "Your appointment with pocketdesk: Mon 2 Mar, 10:00"
        calendar = _calendar(invite)
        assert calendar["METHOD"] == "REQUEST"
        (event,) = calendar.walk("VEVENT")
        uid = str(event["UID"])
        assert uid.startswith(callback.public_id + "@")
        assert event.decoded("DTSTART") == utc(2026, 3, 2, 10)
        assert event.decoded("DTEND") == utc(2026, 3, 2, 10, 15)
        assert b"DTSTART:20260302T100000Z" in event.to_ical()
        assert str(event["ORGANIZER"]) == "mailto:help@support.example"
        assert event["ORGANIZER"].params["CN"] == "Example Support"
        assert str(event["ATTENDEE"]) == "mailto:ada@customer.example"
        assert event["ATTENDEE"].params["CN"] == "Ada Lovelace"

        # the worker runs again: no second invitation
        _work()
        assert len(sink.received) == 1

        callback_cancel(actor=agent, callback=callback, reason="agent ill")
        _work()

    cancel = sink.messages()[1]
    calendar = _calendar(cancel)
    assert calendar["METHOD"] == "CANCEL"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == uid
    assert int(event["SEQUENCE"]) == 1
    assert str(event["STATUS"]) == "CANCELLED"


@pytest.mark.django_db(transaction=True)
def test_no_email_address_no_invitation(sink, channel):
    with clock.frozen_at(MONDAY_8AM):
        london_team()
        sam = customer_create(actor=None, name="Sam", phone="+44 7911 123456")
        conversation = customer_says(sam, "call me", channel=channel).conversation
        offer = callback_offer(actor=None, conversation=conversation)
        Client().post(f"/app/callback/{link_token(offer.message)}/", {"slot": offer.slots[0]})
        _work()
    assert Callback.objects.get().invite_sent_at is None
    assert sink.received == []
