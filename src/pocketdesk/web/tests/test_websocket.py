"""The websocket process: a real uvicorn serving the ASGI app, spoken to by a real client."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ws_server() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PD_MODE": "test"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "pocketdesk.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("uvicorn did not start")
    yield f"ws://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_ping_over_websocket(ws_server):
    with connect(f"{ws_server}/ws/ping", origin="http://127.0.0.1:8000") as socket_:
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
