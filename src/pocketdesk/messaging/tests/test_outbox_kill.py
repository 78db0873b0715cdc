"""A task worker SIGKILLed in the middle of sends, restarted, loses nothing and texts nobody
twice: counted at the fake Twilio API."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from pocketdesk.messaging import services, tasks
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.models import Outbound

SID = "AC" + "3" * 32
TOKEN = "twilio-token-kill-test"
NUMBER = "+14155550144"
# Numbers ending in 0003 make the fake Twilio create the message, then answer slowly: the
# worker is killed while it waits, after Twilio has taken the message.
SLOW = {"+447911110003", "+447911220003", "+447911330003"}


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pocketdesk", "db_worker", "--interval", "0.1"]
    return subprocess.Popen([*command, "--no-startup-delay"], env=env, stdout=subprocess.DEVNULL)


def _wait(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_workers_lose_nothing_and_send_nothing_twice(server_env):
    with FakeProviders(
        twilio_accounts={SID: TOKEN}, slow_reply_seconds=3.0, retry_delays=()
    ) as fake:
        channel = services.channel_create(
            actor=None,
            kind="twilio_sms",
            name="Support",
            address=NUMBER,
            credentials={"account_sid": SID, "auth_token": TOKEN},
            api_base=fake.base_url,
        )
        recipients = [f"+4479111200{i:02d}" for i in range(10, 22)]
        for position, slow in zip((2, 6, 10), sorted(SLOW), strict=True):
            recipients.insert(position, slow)
        outbounds = []
        for i, recipient in enumerate(recipients):
            outbound = services.outbound_queue(
                channel=channel, recipient=recipient, text=f"Your parcel #{i} is on its way"
            )
            tasks.outbound_send.enqueue(outbound.pk)
            outbounds.append(outbound)

        env = {**server_env, "PD_SEND_TIMEOUT_SECONDS": "1"}
        kills = 0
        worker = _worker(env)
        try:
            for slow in sorted(SLOW):
                taken = _wait(lambda n=slow: any(m["to"] == n for m in fake.twilio_messages.all()))
                assert taken, f"the worker never reached {slow}"
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
                kills += 1
                time.sleep(1.1)  # past PD_SEND_TIMEOUT_SECONDS: the interrupted send is stale
                tasks.messaging_sweep.enqueue()
                worker = _worker(env)

            def settled() -> bool:
                pending = Outbound.objects.filter(
                    status__in=[Outbound.Status.QUEUED, Outbound.Status.SENDING]
                )
                if pending.exists():
                    tasks.messaging_sweep.enqueue()
                    time.sleep(0.3)
                    return False
                return True

            assert _wait(settled, 60), list(Outbound.objects.values_list("recipient", "status"))
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(worker.pid, signal.SIGKILL)

        def posts() -> list[str]:
            return [
                r["params"]["Body"][0]
                for r in fake.received
                if r["method"] == "POST" and r["path"].endswith("Messages.json")
            ]

        # The fake records a slow request once it has answered it (to nobody, after a kill).
        assert _wait(lambda: len(posts()) >= len(outbounds), 10)
        time.sleep(0.5)
        assert kills == 3
        assert Counter(posts()) == {outbound.text: 1 for outbound in outbounds}
        by_body = {m["body"]: m["sid"] for m in fake.twilio_messages.all()}
        for outbound in outbounds:
            outbound.refresh_from_db()
            assert outbound.status == Outbound.Status.SENT
            assert outbound.provider_id == by_body[outbound.text]
