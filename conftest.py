"""Shared fixtures: users of every role built through the real services, and API clients."""

import os

os.environ.setdefault("PD_MODE", "test")

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from pocketdesk.accounts.services import user_create

    counter = iter(range(1, 10_000))

    def make(
        role: str = "customer", email: str | None = None, password: str = "pw-Secret-123"
    ) -> Any:
        return user_create(
            email=email or f"{role}{next(counter)}@test.example", password=password, role=role
        )

    return make


@pytest.fixture
def make_customer(make_user: Callable[..., Any]) -> Callable[..., Any]:
    """A customer with a login, created through customers.services."""
    from pocketdesk.customers.services import customer_create

    def make(
        name: str = "Ada Lovelace",
        phone: str | None = None,
        email: str | None = None,
        language: str = "en",
        time_zone: str = "Europe/London",
    ) -> Any:
        user = make_user("customer", email=email)
        return customer_create(
            actor=None,
            name=name,
            email=email or user.email,
            phone=phone,
            language=language,
            time_zone=time_zone,
            user=user,
        )

    return make


@pytest.fixture
def agent(make_user: Callable[..., Any]) -> Any:
    return make_user("agent")


@pytest.fixture
def admin_user(make_user: Callable[..., Any]) -> Any:
    return make_user("admin")


class ApiClient:
    """A Django test client speaking JSON to /api/v1 with a bearer token."""

    def __init__(self, user: Any) -> None:
        from pocketdesk.accounts.services import api_token_create

        _, self.secret = api_token_create(actor=user, user=user, name="test")
        self.user = user
        self.client = Client()

    def _call(self, method: str, path: str, data: Any = None, **headers: Any) -> Any:
        kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}
        kwargs.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
        url = "/api/v1" + path
        if method == "get":
            return self.client.get(url, data or {}, **kwargs)
        return getattr(self.client, method)(url, data, content_type="application/json", **kwargs)

    def get(self, path: str, params: Any = None, **headers: Any) -> Any:
        return self._call("get", path, params, **headers)

    def post(self, path: str, data: Any = None, **headers: Any) -> Any:
        return self._call("post", path, data, **headers)

    def put(self, path: str, data: Any = None, **headers: Any) -> Any:
        return self._call("put", path, data, **headers)

    def patch(self, path: str, data: Any = None, **headers: Any) -> Any:
        return self._call("patch", path, data, **headers)

    def delete(self, path: str, **headers: Any) -> Any:
        return self._call("delete", path, None, **headers)


@pytest.fixture
def api_as() -> Callable[[Any], ApiClient]:
    return ApiClient


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Remove the SQLite test database's WAL side files (Django deletes only the main file) and
    the run's channel-layer file."""
    from pathlib import Path

    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)
    # This run's websocket channel-layer file (settings make one per test run).
    channels = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("path")
    if channels and Path(channels).name.startswith("channels-test-"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{channels}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def server_env(django_db_setup: Any, django_db_blocker: Any) -> dict[str, str]:
    """Environment for a server process a test starts: same settings, the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        url = f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "PD_MODE": "test", "DATABASE_URL": url}


@pytest.fixture(scope="module")
def ws_port(server_env: dict[str, str]) -> Iterator[int]:
    """A real uvicorn serving the ASGI app (websockets) on a free port, for one test module."""
    import subprocess
    import sys

    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own server
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


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chromium_path() -> str | None:
    import shutil

    candidate = os.environ.get("PD_CHROMIUM") or "/usr/bin/chromium"
    return candidate if os.path.exists(candidate) else shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> Any:
    """Debian's Chromium driven by Playwright. Without one: skipped loudly, or failed under CI.

    Module-scoped: Playwright's sync API keeps an event loop running in this thread, which
    would break async_to_sync in every later test of the session."""
    path = _chromium_path()
    if path is None:
        message = "Chromium not found (install Debian's chromium or set PD_CHROMIUM): browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " are required under CI=true")
        print(f"\n!!! {message} SKIPPED !!!\n")  # noqa: T201 - loud on purpose
        pytest.skip(message + " skipped")
    # Playwright's sync API runs an event loop in this thread; the ORM calls around it are sync.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
