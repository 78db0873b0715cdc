"""Web chat in a real browser: a customer on a 360×740 phone writes, an agent sees it live in
the console and answers there, the answer appears without a reload; a message written offline
is sent once when the connection is back. HTTP is Django's live server, websockets a real
uvicorn process (another origin, as in production)."""

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.webchat import customer_message_post
from pocketdesk.messaging.models import Outbound

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A service worker whose script fails (e.g. an importScripts 404) never becomes ready.
SERVICE_WORKER_ACTIVE = """Promise.race([
  navigator.serviceWorker.ready.then((registration) => Boolean(registration.active)),
  new Promise((resolve) => setTimeout(() => resolve(false), 5000)),
])"""
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def site(live_server, ws_port, settings) -> str:
    """The live server's URL, its pages pointing at the websocket process (and allowed to)."""
    # One host name for pages and socket: the session cookie is per host, not per port.
    origin = f"ws://127.0.0.1:{ws_port}"
    settings.PD_WS_URL = f"{origin}/ws/"
    settings.SECURE_CSP = {
        **settings.SECURE_CSP,
        "connect-src": [*settings.SECURE_CSP["connect-src"], origin],
    }
    return str(live_server.url).replace("localhost", "127.0.0.1")


def _session(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def _phone(chromium: Any, base: str, user: Any) -> Any:
    context = chromium.new_context(**PHONE)
    context.add_cookies([{"name": "sessionid", "value": _session(user), "url": base}])
    return context


def _agent_socket(ws_port: int, agent: Any, base: str) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{ws_port}/ws/events",
        origin=base,
        additional_headers={"Cookie": f"sessionid={_session(agent)}"},
    )


def _off_loop(function: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a service from another thread: Playwright's loop in this one forbids the
    async_to_sync of the realtime push."""

    def call() -> Any:
        try:
            return function(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _event(socket_: ClientConnection, name: str, conversation: str) -> dict[str, Any]:
    """The next `name` event about `conversation` (the staff group also carries other tests'
    events when several test processes share the channel layer file)."""
    deadline = time.monotonic() + 5
    while True:
        event = json.loads(socket_.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if event.get("event") == name and event["data"].get("conversation") == conversation:
            return dict(event["data"])


def test_customer_and_agent_chat_live(chromium, site, ws_port, make_customer, agent):
    # given a customer on a phone
    customer = make_customer(name="Ada Lovelace")
    phone = _phone(chromium, site, customer.user)
    page = phone.new_page()
    errors: list[str] = []  # CSP refusals and script errors show up here
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))

    # when they open their messages and write a new one
    page.goto(f"{site}/app/conversations/")
    page.click("#new-message")
    page.wait_for_selector("#chat[data-live=true]")
    page.fill("textarea[name=text]", "My parcel is late")
    page.click("button.send")

    # then it is confirmed on the phone, and the page becomes the thread's
    page.wait_for_selector("#thread li.mine[data-message-id]:has-text('My parcel is late')")
    conversation = Conversation.objects.get(customer=customer)
    page.wait_for_url(f"{site}/app/conversations/{conversation.public_id}/")

    # given an agent with the conversation open in the console (and the typing protocol)
    desk = chromium.new_context(viewport={"width": 1280, "height": 800})
    desk.add_cookies([{"name": "sessionid", "value": _session(agent), "url": site}])
    console = desk.new_page()
    console.goto(f"{site}/console/conversations/{conversation.public_id}/")
    console.wait_for_selector("[data-live=thread][data-socket=open]")
    assert "My parcel is late" in console.locator("#thread").inner_text()
    with _agent_socket(ws_port, agent, site) as agent_socket:
        # when the customer writes again, the agents see them typing
        page.type("textarea[name=text]", "Any news?")
        typing = _event(agent_socket, "typing", conversation.public_id)
        assert typing["who"] == "customer"
        page.click("button.send")
        # then it appears at the agent in real time
        console.wait_for_selector("#thread [data-message-id]:has-text('Any news?')")
        created = _event(agent_socket, "message.created", conversation.public_id)
        assert (created["direction"], created["preview"]) == ("inbound", "Any news?")

        # when the agent types, then replies in the console
        agent_socket.send(json.dumps({"type": "typing", "conversation": conversation.public_id}))
        page.wait_for_selector("#typing:not([hidden])")
        console.fill("textarea[name=text]", "It arrives tomorrow")
        console.click("#reply button[type=submit]:has-text('Send')")

        # then the reply appears on the phone without a reload, and "typing" goes away
        page.wait_for_selector("#thread li.theirs[data-message-id]:has-text('It arrives tomorrow')")
        assert page.locator("#typing").is_hidden()
        # and, the thread being on screen, the reply is read (the agents are told)
        _event(agent_socket, "conversation.read", conversation.public_id)
        reply = Message.objects.get(conversation=conversation, direction="outbound")
        assert reply.text == "It arrives tomorrow"
        assert _wait_for(lambda: Outbound.objects.get(pk=reply.outbound_id).status == "read")
    assert errors == []
    desk.close()
    phone.close()


def test_a_message_written_offline_is_sent_once_when_back_online(
    chromium, site, make_customer, agent
):
    # given a customer's thread open on their phone
    customer = make_customer()
    first, _ = _off_loop(
        customer_message_post,
        actor=customer.user,
        conversation=None,
        text="Hello",
        client_id=str(uuid.uuid4()),
    )
    conversation = first.conversation
    context = _phone(chromium, site, customer.user)
    page = context.new_page()
    page.goto(f"{site}/app/conversations/{conversation.public_id}/")
    page.wait_for_selector("#chat[data-live=true]")
    # (the service worker, which also sends the outbox on Background Sync, is running)
    assert page.evaluate(SERVICE_WORKER_ACTIVE)

    # when the connection drops and they write
    context.set_offline(True)
    page.fill("textarea[name=text]", "Sent from a tunnel")
    page.click("button.send")

    # then it shows at once as waiting, and nothing reached the server
    waiting = page.locator("#thread li.mine.sending")
    waiting.wait_for()
    assert waiting.locator(".text").inner_text() == "Sent from a tunnel"
    assert waiting.locator(".state").inner_text() == "Waiting for a connection…"
    page.wait_for_timeout(300)
    assert not Message.objects.filter(text="Sent from a tunnel").exists()

    # when the connection is back
    context.set_offline(False)

    # then it is sent, confirmed on the phone, and stored exactly once
    page.wait_for_selector("#thread li.mine[data-message-id]:has-text('Sent from a tunnel')")
    assert _wait_for(lambda: Message.objects.filter(text="Sent from a tunnel").count()) == 1
    page.wait_for_timeout(500)  # the service worker's sync and the reconnect may send again
    assert Message.objects.filter(text="Sent from a tunnel").count() == 1
    assert page.locator("#thread li:has-text('Sent from a tunnel')").count() == 1
    assert page.locator("#thread .sending").count() == 0

    # and a reload shows it once, with nothing left in the outbox
    page.reload()
    assert page.locator("#thread li:has-text('Sent from a tunnel')").count() == 1
    assert page.evaluate("self.pdOutbox.all().then((waiting) => waiting.length)") == 0
    context.close()


def test_call_me_back_from_the_phone_shows_in_the_console(chromium, site, make_customer, agent):
    # given a customer's thread, open on their phone and in an agent's console
    customer = make_customer()
    first, _ = _off_loop(
        customer_message_post,
        actor=customer.user,
        conversation=None,
        text="My boiler is broken",
        client_id=str(uuid.uuid4()),
    )
    conversation = first.conversation
    desk = chromium.new_context(viewport={"width": 1280, "height": 800})
    desk.add_cookies([{"name": "sessionid", "value": _session(agent), "url": site}])
    console = desk.new_page()
    console.goto(f"{site}/console/conversations/{conversation.public_id}/")
    console.wait_for_selector("[data-live=thread][data-socket=open]")
    phone = _phone(chromium, site, customer.user)
    page = phone.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    thread_url = f"{site}/app/conversations/{conversation.public_id}/"
    page.goto(thread_url)
    page.wait_for_selector("#chat[data-live=true]")

    # when they ask to be called back, with a note
    page.fill("#callback-text", "After 5pm")
    page.click("#callback button:has-text('Call me back')")

    # then the request shows in the thread, confirmed, without leaving the page
    bubble = page.locator("#thread li.mine[data-message-id]:has-text('Callback requested')")
    bubble.wait_for()
    assert bubble.locator(".text").inner_text() == "After 5pm"
    assert page.url == thread_url
    assert page.input_value("#callback-text") == ""
    stored = _wait_for(lambda: Message.objects.filter(kind="callback_request").first())
    assert (stored.text, stored.conversation_id) == ("After 5pm", conversation.pk)

    # and it reaches the agent live, shown as a callback request
    item = console.locator(f"#message-{stored.public_id}.msg-callback")
    item.wait_for()
    assert "📞 Callback requested" in item.inner_text()
    assert "After 5pm" in item.inner_text()
    assert errors == []
    desk.close()
    phone.close()
