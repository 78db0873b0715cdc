"""The console in a real browser: an SMS arriving shows up in the open inbox without a reload;
in the thread, the SMS segment counter agrees with the server's count, a canned reply is
inserted, the reply appears once and its delivery receipt updates it live; WhatsApp's window
notice follows the channel picker, closes on time and reopens when the customer writes. HTTP is
Django's live server, websockets a real uvicorn process (another origin, as in production)."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.inbox import canned_reply_create
from pocketdesk.conversations.services.messages import message_receive
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.core import clock
from pocketdesk.customers.services import contact_point_add
from pocketdesk.messaging.fake_providers import whatsapp_message_id
from pocketdesk.messaging.handlers import InboundMessage
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.segments import sms_segments
from pocketdesk.messaging.services import channel_create, outbound_mark

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAMPLES = [
    "",
    "Hello",
    "a" * 160,
    "a" * 161,
    "€" * 80,
    "€" * 81,
    "Ünïcödé ok? ñ",
    "café ☕",
    "x" * 69 + "😀",
    "😀" * 40,
    "[" + "a" * 151 + "]",
    "line\nbreak",
]


@pytest.fixture
def site(live_server, ws_port, settings) -> str:
    origin = f"ws://127.0.0.1:{ws_port}"
    settings.PD_WS_URL = f"{origin}/ws/"
    settings.SECURE_CSP = {
        **settings.SECURE_CSP,
        "connect-src": [*settings.SECURE_CSP["connect-src"], origin],
    }
    # One host name for pages and socket: the session cookie is per host, not per port.
    return str(live_server.url).replace("localhost", "127.0.0.1")


def _off_loop(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a service in another thread: Playwright's event loop in this one forbids the
    async_to_sync of the realtime push."""

    def call() -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _console(chromium: Any, base: str, agent: Any) -> tuple[Any, Any, list[str]]:
    client = Client()
    client.force_login(agent)
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    page = context.new_page()
    errors: list[str] = []  # script errors and CSP refusals
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def test_inbox_and_thread_are_live(chromium, site, make_customer, agent):
    channel = sms_channel()
    old = make_customer(name="Old Timer", phone="+44 7911 100200")
    _off_loop(customer_says, old, "earlier question", channel=channel)
    _off_loop(canned_reply_create, actor=agent, shortcut="eta", text="Hi {{customer.first_name}}!")
    context, page, errors = _console(chromium, site, agent)

    # given the agent on the "all" inbox
    page.goto(f"{site}/console/inbox/?view=all")
    page.wait_for_selector("[data-live=inbox][data-socket=open]")
    assert page.locator(".conversation").count() == 1

    # when a new customer texts in
    customer = make_customer(name="Noor Haddad", phone="+44 7911 100201")
    message = _off_loop(customer_says, customer, "Where is my parcel?", channel=channel)
    conversation = message.conversation

    # then their row appears at the top, unread, without a reload
    page.wait_for_selector(f"#row-{conversation.public_id} .badge")
    assert page.locator(".conversation .who").first.inner_text() == "Noor Haddad"

    # when the agent opens the thread
    page.click(f"#row-{conversation.public_id} a.who")
    page.wait_for_selector("[data-live=thread][data-socket=open]")

    # then the segment counter counts as the server does
    counted = page.evaluate("(samples) => samples.map(window.pocketdeskSmsSegments)", SAMPLES)
    expected = [
        {"encoding": s.encoding, "units": s.units, "segments": s.segments}
        for s in map(sms_segments, SAMPLES)
    ]
    assert counted == expected
    page.fill("textarea[name=text]", "a" * 161)
    assert page.locator("#segments").inner_text() == "2 SMS segments · 161 characters · GSM-7"

    # when they insert the canned reply and send
    page.fill("textarea[name=text]", "")
    page.select_option("#canned", "eta")
    assert page.input_value("textarea[name=text]") == "Hi Noor!"
    assert page.locator("#segments").inner_text() == "1 SMS segment · 8 characters · GSM-7"
    page.click("#reply button:has-text('Send')")

    # then the reply is in the thread once, sending, and the box is empty again
    reply_item = page.locator("#thread [data-direction=outbound]")
    reply_item.wait_for()
    page.wait_for_timeout(400)  # the websocket's copy of the same message must not double it
    assert reply_item.count() == 1
    assert reply_item.get_attribute("data-status") == "queued"
    assert page.input_value("textarea[name=text]") == ""
    reply = Message.objects.get(conversation=conversation, direction="outbound")
    assert reply.text == "Hi Noor!"

    # when the provider reports it delivered
    _off_loop(
        outbound_mark, outbound=Outbound.objects.get(pk=reply.outbound_id), status="delivered"
    )

    # then the tick changes without a reload
    page.wait_for_selector(f"[data-message-id='{reply.public_id}'][data-status=delivered]")

    # and when the customer answers, it is appended and the thread stays read
    _off_loop(customer_says, customer, "Great, thanks", channel=channel)
    page.wait_for_selector("#thread [data-message-id]:has-text('Great, thanks')")
    page.wait_for_timeout(1000)  # the read call is debounced
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 0
    assert errors == []
    context.close()


def test_whatsapp_window_notice_follows_the_picker_the_clock_and_the_customer(
    chromium, site, make_customer, agent
):
    # given a customer whose WhatsApp window closes in a minute, and who then texted
    sms = sms_channel()
    whatsapp = _off_loop(
        channel_create,
        actor=None,
        kind="whatsapp",
        name="WhatsApp line",
        address="106540352242922",
        credentials={"app_secret": "s", "verify_token": "v", "access_token": "t"},
    )
    customer = make_customer(name="Noor Haddad", phone="+44 7911 100300")
    point = _off_loop(
        contact_point_add, actor=None, customer=customer, kind="whatsapp", value="+447911100300"
    )

    def on_whatsapp(at: datetime) -> Message:
        return message_receive(
            InboundMessage(
                channel_id=whatsapp.pk,
                customer_id=customer.pk,
                contact_point_id=point.pk,
                text=f"WhatsApp at {at.isoformat()}",
                provider_id=whatsapp_message_id("447911100300"),
                received_at=at,
            )
        )

    now = clock.now()
    conversation = _off_loop(on_whatsapp, now - timedelta(hours=24, seconds=-60)).conversation
    _off_loop(customer_says, customer, "By text now", channel=sms, at=now - timedelta(seconds=1))
    context, page, errors = _console(chromium, site, agent)
    page.clock.install()  # the page's clock runs on, until the test moves it forward
    page.goto(f"{site}/console/conversations/{conversation.public_id}/")
    page.wait_for_selector("[data-live=thread][data-socket=open]")
    notice = page.locator(f"#window-{whatsapp.public_id}")

    # then the reply goes by SMS: no WhatsApp notice shown
    assert notice.is_hidden()

    # when the agent picks WhatsApp, its window shows, open
    page.select_option("#reply-channel", whatsapp.public_id)
    assert notice.is_visible()
    assert notice.inner_text().startswith("WhatsApp window open until ")

    # then, when the window closes, the notice says so without a reload
    page.clock.fast_forward("01:30")
    page.wait_for_selector(f"#window-{whatsapp.public_id}[data-window-open=false]")
    assert notice.inner_text().startswith("Outside WhatsApp's 24-hour window")

    # when the customer writes on WhatsApp, the window is open again
    _off_loop(on_whatsapp, clock.now())
    page.wait_for_selector(f"#window-{whatsapp.public_id}[data-window-open=true]")
    assert notice.is_visible()
    assert notice.inner_text().startswith("WhatsApp window open until ")

    # and back on the default channel (SMS, when the page was drawn), it is hidden again
    page.select_option("#reply-channel", "")
    assert notice.is_hidden()
    assert errors == []
    context.close()
