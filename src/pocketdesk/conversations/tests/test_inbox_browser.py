"""The console in a real browser: an SMS arriving shows up in the open inbox without a reload;
in the thread, the SMS segment counter agrees with the server's count, a canned reply is
inserted, the reply appears once and its delivery receipt updates it live. HTTP is Django's live
server, websockets a real uvicorn process (another origin, as in production)."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import free_port, wait_for_port
from django.db import connections
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.inbox import canned_reply_create
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.segments import sms_segments
from pocketdesk.messaging.services import outbound_mark

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


@pytest.fixture(scope="module")
def ws_port(server_env) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "pocketdesk.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env=server_env,
    )
    if not wait_for_port(port):
        process.kill()
        pytest.fail("uvicorn did not start")
    yield port
    process.terminate()
    process.wait(timeout=10)


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
