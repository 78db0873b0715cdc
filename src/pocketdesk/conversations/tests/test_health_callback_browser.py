"""Interaction health end to end, in a real browser with the clock under the test's control: a
customer on SMS (a fake Twilio calling a live server with signed webhooks) sends one long,
frustrated message; the console shows low health with its reasons and suggests a callback; the
agent offers it; the customer picks a slot on their phone through the link the SMS carried; the
invitation reaches a real SMTP server (aiosmtpd) as a valid .ics; at the slot time the callback
sits at the top of the agent's inbox, above a more recent conversation."""

import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from django.db import connections
from django.test import Client
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from icalendar import Calendar

from pocketdesk.conversations import tasks
from pocketdesk.conversations.models import Callback, CallbackOffer, Conversation, Message
from pocketdesk.conversations.services.callback_slots import slot_parse
from pocketdesk.conversations.tests.callback_factories import MONDAY_8AM, london_team
from pocketdesk.conversations.tests.factories import customer_says
from pocketdesk.core import clock
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.services import channel_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SID = "AC" + "5" * 32
TOKEN = "twilio-token-for-health-browser-test"
NUMBER = "+14155550155"
PHONE, EMAIL = "+447911123456", "ada@customer.example"
PHONE_SCREEN = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
FRUSTRATED = (
    "This is the third time I am asking the same question and nobody answers!! My router still "
    "does not work after your so-called fix, the light keeps blinking red and I have no "
    "internet at all. I asked yesterday, I asked on Saturday, I am asking again: when will "
    "somebody actually fix my router? Your instructions are useless and I am really fed up, "
    "it is ridiculous. I can't keep texting about this, please just call me."
)
CALLBACK_LINK = re.compile(r"https?://\S+/app/callback/[A-Za-z0-9_-]+/")


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
def site(live_server: Any, settings: Any) -> str:
    """The live server's URL, which the links in messages and Twilio's signatures name too;
    the automated agent does not offer anything itself (the agent does, in the console)."""
    base = str(live_server.url).replace("localhost", "127.0.0.1")
    settings.PD_PUBLIC_URL = base
    settings.PD_AUTO_OFFER = False
    return base


@pytest.fixture
def twilio(site: str) -> Iterator[FakeProviders]:
    with FakeProviders(twilio_accounts={SID: TOKEN}, status_delay=0.02) as fake:
        yield fake


def _off_loop(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run in another thread: Playwright's event loop in this one forbids the async_to_sync of
    the realtime pushes the services and tasks make."""

    def call() -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _work() -> None:
    """What `db_worker --batch` does, off Playwright's loop (the command itself installs signal
    handlers, which only the main thread may); no task may fail."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=get_random_string(32),
        excluded_queue_names=[],
    )
    _off_loop(worker.run)
    failed = DBTaskResult.objects.failed()
    assert not failed.exists(), [(r.task_path, r.traceback) for r in failed]


def _session(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def _sms_sent(fake: FakeProviders) -> list[str]:
    """The bodies of the SMS our app asked the fake Twilio to send, oldest first."""
    return [
        request["params"]["Body"][0]
        for request in fake.received
        if request["method"] == "POST" and request["path"].endswith("/Messages.json")
    ]


def _calendar(message: EmailMessage) -> Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    return Calendar.from_ical(parts[0].get_payload(decode=True))


def _inbox_rows(page: Any, site: str) -> list[str]:
    page.goto(f"{site}/console/inbox/?view=all")
    rows = page.locator("#inbox-list li.conversation")
    rows.first.wait_for()
    return [str(rows.nth(n).get_attribute("data-conversation")) for n in range(rows.count())]


def test_going_badly_on_sms_to_a_callback_on_top_of_the_queue(
    chromium, site, twilio, sink, make_customer, agent
):
    pages: dict[str, Any] = {}
    try:
        _story(chromium, site, twilio, sink, make_customer, agent, pages)
    except BaseException:
        shots = Path(tempfile.gettempdir())
        for name, page in pages.items():  # what each screen showed when it failed
            if not page.is_closed():
                page.screenshot(path=str(shots / f"health-callback-{name}.png"))
        raise


def _story(
    chromium: Any,
    site: str,
    twilio: FakeProviders,
    sink: Sink,
    make_customer: Any,
    agent: Any,
    pages: dict[str, Any],
) -> None:
    with clock.frozen_at(MONDAY_8AM):
        # given a London team, an SMS line, and a customer with a phone and an e-mail address
        london_team()
        channel = channel_create(
            actor=None,
            kind="twilio_sms",
            name="Support line",
            address=NUMBER,
            credentials={"account_sid": SID, "auth_token": TOKEN},
            api_base=twilio.base_url,
        )
        ada = make_customer(name="Ada Lovelace", phone=PHONE, email=EMAIL)

        # when they send one long, frustrated SMS (Twilio's signed webhook, then the worker)
        webhook = f"{site}/webhooks/twilio/sms"
        assert twilio.send_inbound_sms(webhook, PHONE, NUMBER, FRUSTRATED, TOKEN) == 200
        _work()
        conversation = Conversation.objects.get(customer=ada)
        assert conversation.messages.get().text == FRUSTRATED

    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=2)):
        # then the agent's console shows it going badly, why, and suggests a callback
        desk = chromium.new_context(viewport={"width": 1280, "height": 800})
        desk.add_cookies([{"name": "sessionid", "value": _session(agent), "url": site}])
        console = pages["console"] = desk.new_page()
        console.goto(f"{site}/console/conversations/{conversation.public_id}/")
        card = console.locator("#health")
        card.wait_for()
        score = int(card.locator(".score").inner_text())
        assert score < 60
        assert card.get_attribute("data-going-badly") is not None
        assert "This conversation is going badly." in card.inner_text()
        reasons = card.locator("li[data-reason]")
        assert reasons.count() >= 2
        codes = {reasons.nth(n).get_attribute("data-reason") for n in range(reasons.count())}
        assert "cue_callback_request" in codes, codes
        for n in range(reasons.count()):
            assert reasons.nth(n).is_visible()
            assert reasons.nth(n).inner_text().strip()
        suggestion = card.locator("p.suggestion")
        assert suggestion.get_attribute("data-suggestion") == "schedule_callback"
        assert "Suggested: offer a callback" in suggestion.inner_text()

        # when the agent offers a callback (the HTMX form)
        console.click("#offer-callback button:has-text('Offer a callback')")

        # then the offer appears in the thread without leaving the page
        offer_line = console.locator(
            "#thread li.msg-outbound:has-text('We can call you back at one of these times')"
        )
        offer_line.wait_for()
        assert console.url == f"{site}/console/conversations/{conversation.public_id}/"
        assert console.locator("#suggest-error").is_hidden()
        offer = CallbackOffer.objects.get(conversation=conversation)
        assert offer.created_by_id == agent.pk

        # and the SMS goes out to the fake Twilio with the link in it
        _work()
        (sms,) = _sms_sent(twilio)
        found = CALLBACK_LINK.search(sms)
        assert found, sms
        link = found.group(0)
        assert link.startswith(f"{site}/app/callback/")

    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=5)):
        # when the customer opens the link on their phone, signed out, and picks the first time
        phone = chromium.new_context(**PHONE_SCREEN)
        picker = pages["phone"] = phone.new_page()
        picker.goto(link)
        picker.locator("#callback-form").wait_for()
        first = picker.locator("#callback-form input[name=slot]").first
        picked = str(first.get_attribute("value"))
        assert picked == offer.slots[0]
        label = picker.locator("#callback-form label.slot").first.inner_text().strip()
        assert label in sms  # the same time the SMS listed
        first.check()
        picker.click("#callback-form button:has-text('Book this time')")

        # then the confirmation page shows the time booked
        picker.locator("#callback-booked").wait_for()
        assert label in picker.locator("#booked-when").inner_text()
        slot = slot_parse(picked)
        callback = Callback.objects.get(conversation=conversation)
        assert (callback.status, callback.starts_at) == ("booked", slot)

        # when the worker runs, then the invitation reaches the SMTP server as a valid .ics
        _work()
        (invite,) = sink.messages()
        assert sink.received[0][0] == [EMAIL]
        calendar = _calendar(invite)
        assert calendar["METHOD"] == "REQUEST"
        (event,) = calendar.walk("VEVENT")
        assert event.decoded("DTSTART") == slot.astimezone(UTC)
        assert f"DTSTART:{slot:%Y%m%dT%H%M%S}Z".encode() in event.to_ical()
        assert str(event["ATTENDEE"]) == f"mailto:{EMAIL}"
        assert str(event["UID"]).startswith(callback.public_id + "@")

    # given another customer writing in later, after the booking and before the callback's time
    later = slot - timedelta(minutes=10)
    assert later > MONDAY_8AM + timedelta(minutes=5)
    with clock.frozen_at(later):
        bob = make_customer(name="Bob Stone", phone="+447911123457", email="bob@customer.example")
        newer = _off_loop(customer_says, bob, "Hi, where is my parcel?", channel=channel)
        newer = newer.conversation
        # (the most recent conversation is the first in the inbox until then)
        assert _inbox_rows(console, site)[:2] == [newer.public_id, conversation.public_id]

    with clock.frozen_at(slot):
        # when the callbacks' clock runs at the slot's time
        tasks.callbacks_sweep.enqueue()
        _work()

        # then the conversation is at the top of the agent's inbox, marked "Callback due"
        rows = _inbox_rows(console, site)
        assert rows[:2] == [conversation.public_id, newer.public_id]
        top = console.locator("#inbox-list li.conversation").first
        tag = top.locator("[data-callback-due]")
        assert tag.is_visible()
        assert "Callback due" in tag.inner_text()
        assert slot_parse(str(tag.get_attribute("data-callback-due"))) == slot
        assert console.locator("#inbox-list [data-callback-due]").count() == 1
        assert Message.objects.filter(conversation=conversation, kind="callback_due").count() == 1

    desk.close()
    phone.close()
