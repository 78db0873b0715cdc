"""Web chat over the events socket of a real uvicorn process: typing relayed to the other side
(only for a conversation the sender may see), reading from the app, and a customer's message
pushed to the agents."""

import json
import time
import uuid
from typing import Any

import pytest
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from pocketdesk.conversations.models import Conversation
from pocketdesk.conversations.services.webchat import customer_message_post

ORIGIN = "http://127.0.0.1:8000"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def ws_server(ws_port: int) -> str:
    return f"ws://127.0.0.1:{ws_port}/ws/events"


def _socket(url: str, user: Any) -> ClientConnection:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return connect(url, origin=ORIGIN, additional_headers={"Cookie": cookie})


def _next(socket_: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return dict(json.loads(socket_.recv(timeout=timeout)))


# The staff group is shared with every other process on this machine using the test channel
# layer file: these helpers look only at this test's conversation.
def _event(socket_: ClientConnection, name: str, conversation: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        event = _next(socket_, timeout=max(deadline - time.monotonic(), 0.01))
        if event.get("event") == name and event["data"].get("conversation") == conversation:
            return event


def _quiet(socket_: ClientConnection, conversation: str, seconds: float = 0.5) -> None:
    """Nothing about `conversation` reaches the socket for a while."""
    deadline = time.monotonic() + seconds
    with pytest.raises(TimeoutError):
        while True:
            event = _next(socket_, timeout=max(deadline - time.monotonic(), 0.01))
            assert event.get("data", {}).get("conversation") != conversation, event


def _thread(customer: Any, text: str = "Hello?") -> Conversation:
    message, _ = customer_message_post(
        actor=customer.user, conversation=None, text=text, client_id=str(uuid.uuid4())
    )
    return message.conversation


def test_typing_is_relayed_between_customer_and_agents(ws_server, make_customer, agent):
    # given a customer's thread, with the customer's app and an agent's console connected
    customer = make_customer(name="Ada Lovelace")
    conversation = _thread(customer)
    with _socket(ws_server, customer.user) as app, _socket(ws_server, agent) as console:
        # when the customer types
        app.send(json.dumps({"type": "typing", "conversation": conversation.public_id}))
        # then the agents see who types where
        assert _event(console, "typing", conversation.public_id) == {
            "event": "typing",
            "data": {
                "conversation": conversation.public_id,
                "who": "customer",
                "name": "Ada Lovelace",
            },
        }

        # when the agent types
        console.send(json.dumps({"type": "typing", "conversation": conversation.public_id}))
        # then the customer's app hears it, and nothing echoes back to the agent
        assert _event(app, "typing", conversation.public_id) == {
            "event": "typing",
            "data": {"conversation": conversation.public_id, "who": "agent"},
        }
        _quiet(console, conversation.public_id, 0.3)


def test_typing_in_someone_elses_conversation_is_refused(ws_server, make_customer, agent):
    # given Ada's thread, and Bob connected
    ada, bob = make_customer(), make_customer(name="Bob")
    conversation = _thread(ada)
    with _socket(ws_server, bob.user) as app, _socket(ws_server, agent) as console:
        # when Bob claims to type in it, or sends nonsense
        app.send(json.dumps({"type": "typing", "conversation": conversation.public_id}))
        assert _next(app) == {"type": "error", "code": "not_found"}
        app.send(json.dumps({"type": "typing", "conversation": ["x"]}))
        assert _next(app) == {"type": "error", "code": "bad_conversation"}
        app.send(json.dumps({"type": "shout"}))
        assert _next(app) == {"type": "error", "code": "unknown_message"}
        # then the agents hear nothing
        _quiet(console, conversation.public_id)


def test_customer_message_and_read_reach_the_agents(ws_server, make_customer, agent):
    customer = make_customer()
    conversation = _thread(customer)
    with _socket(ws_server, customer.user) as app, _socket(ws_server, agent) as console:
        # when the customer writes from this process (the HTTP side)
        message, _ = customer_message_post(
            actor=customer.user,
            conversation=conversation,
            text="Any news?",
            client_id=str(uuid.uuid4()),
        )
        # then the agents' console and the customer's own app get the push
        for socket_ in (console, app):
            event = _event(socket_, "message.created", conversation.public_id)
            assert event["data"]["message"] == message.public_id
            assert event["data"]["preview"] == "Any news?"

        # when the app reports the thread read over the socket
        app.send(json.dumps({"type": "read", "conversation": conversation.public_id}))
        # then the agents are told and the thread is read
        _event(console, "conversation.read", conversation.public_id)
        conversation.refresh_from_db()
        assert conversation.customer_read_at is not None
