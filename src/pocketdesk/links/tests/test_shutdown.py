"""A clean shutdown of a real gunicorn worker loses no recorded scan."""

import http.client
import signal
import subprocess
import sys

import pytest
from conftest import free_port, wait_for_port

from pocketdesk.links.models import Link, Visit
from pocketdesk.links.services import link_create

SCANS = 300


@pytest.mark.django_db(transaction=True)
def test_graceful_stop_writes_every_waiting_visit(agent, server_env):
    # given a link, and a gunicorn worker that would only write visits once a minute
    link_create(actor=agent, target_url="https://example.com/a", code="burst")
    port = free_port()
    env = {**server_env, "PD_VISITS_IN_BACKGROUND": "1", "PD_VISITS_FLUSH_SECONDS": "60"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "pocketdesk.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        assert wait_for_port(port), "gunicorn did not start"
        # when it serves a burst of scans (fewer than a write batch) ...
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(SCANS):
            connection.request(
                "GET", "/q/burst", headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"}
            )
            response = connection.getresponse()
            response.read()
            assert response.status == 302
        connection.close()
        assert Visit.objects.count() == 0  # still waiting in the worker's memory
        # ... and is stopped the way deployments stop it
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
    # then every scan is in the database, and counted
    assert Visit.objects.filter(code="burst", outcome="redirect").count() == SCANS
    assert Link.objects.get(code="burst").visit_count == SCANS
