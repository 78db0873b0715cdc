"""The websocket process: a real uvicorn serving the ASGI app, spoken to by a real client."""

import json

import pytest
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pocketdesk.core.realtime import realtime_push

ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def ws_server(ws_port: int) -> str:
    return f"ws://127.0.0.1:{ws_port}"


def test_ping_over_websocket(ws_server):
    with connect(f"{ws_server}/ws/ping", origin=ORIGIN) as socket_:
        socket_.send(json.dumps({"type": "ping"}))
        assert json.loads(socket_.recv(timeout=5)) == {"type": "pong", "user": None}
        socket_.send(json.dumps({"type": "nonsense"}))
        assert json.loads(socket_.recv(timeout=5))["code"] == "unknown_message"


def test_foreign_origin_is_refused(ws_server):
    with (
        pytest.raises(InvalidStatus),
        connect(f"{ws_server}/ws/ping", origin="https://evil.example"),
    ):
        pass


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.django_db(transaction=True)
def test_push_from_this_process_reaches_the_users_websocket_in_the_server(ws_server, make_user):
    # given an agent with the events socket open in the websocket process, and another agent
    agent, other = make_user("agent"), make_user("agent")
    headers = {"Cookie": _session_cookie(agent)}
    with connect(f"{ws_server}/ws/events", origin=ORIGIN, additional_headers=headers) as events:
        # when this (HTTP-like) process pushes to each of them
        realtime_push(user_public_id=other.public_id, event="for.other", data={})
        realtime_push(user_public_id=agent.public_id, event="note.added", data={"n": 1})

        # then the agent's socket gets exactly its own event
        assert json.loads(events.recv(timeout=5)) == {"event": "note.added", "data": {"n": 1}}
        with pytest.raises(TimeoutError):
            events.recv(timeout=0.5)


@pytest.mark.django_db(transaction=True)
def test_events_socket_refuses_anonymous(ws_server):
    with pytest.raises(InvalidStatus), connect(f"{ws_server}/ws/events", origin=ORIGIN):
        pass
