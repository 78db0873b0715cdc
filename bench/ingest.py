"""ingest: signed Twilio SMS webhooks at 32 connections, each stored, threaded by the task worker
and pushed to an agent's open websocket; against the same server's bare /healthz.

Every webhook is unique (pre-signed with the channel's auth token, as Twilio signs), from the
phones of seeded customers. A run lasts BENCH_SECONDS; its messages are counted as they reach
the agent's socket until the backlog is drained. End-to-end rate = messages pushed / (time
from the run's start to the last push); latency = push arrival - the webhook's receipt time.
"""

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlencode

from _common import BENCH_DIR, HOST, PROJECT_DIR, BenchError, RunSettings, console
from _server import (
    SEED,
    SEED_CUSTOMERS,
    VAR_DIR,
    Gunicorn,
    endpoint_summary,
    free_port,
    prepare,
    prepare_json,
    server_env,
    wrk_load,
)
from _wrk import WrkResult, median_run, run_wrk, wrk_version

CONNECTIONS = 32
WRK_THREADS = 2
WORKERS = 2
PUBLIC_URL = "https://bench.pocketdesk.test"
PATH = "/webhooks/twilio/sms"
# Upper bound of webhooks a wrk thread may send per second (each request is signed ahead).
MAX_RATE_PER_THREAD = 2_500
GOAL_RATIO = 0.50
# A run's backlog must drain within this long after wrk stops, or the bench gives up.
DRAIN_TIMEOUT_S = 600
QUIET_S = 5.0


class AgentSocket:
    """An agent's /ws/events socket in a thread, recording every message.created push."""

    def __init__(self, url: str, cookie: str) -> None:
        self.url, self.cookie = url, cookie
        self.arrivals: list[tuple[float, float]] = []  # (monotonic arrival, latency ms)
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.connected.wait(20):
            raise BenchError(f"the agent websocket did not connect: {self.error!r}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            asyncio.run(self._listen())
        except BaseException as error:  # reported by start() / the run
            self.error = error
            self.connected.set()

    async def _listen(self) -> None:
        from datetime import datetime

        import websockets

        headers = {"Cookie": self.cookie, "Origin": f"http://{HOST}"}
        async with websockets.connect(self.url, additional_headers=headers) as socket:
            self.connected.set()
            while not self._stop.is_set():
                try:
                    raw = await asyncio.wait_for(socket.recv(), 0.5)
                except TimeoutError:
                    continue
                now_wall, now = time.time(), time.monotonic()
                event = json.loads(raw)
                if event.get("event") != "message.created":
                    continue
                sent = datetime.fromisoformat(event["data"]["at"]).timestamp()
                self.arrivals.append((now, (now_wall - sent) * 1000))


def sign_requests(data: dict[str, Any], prefix: str, count: int) -> None:
    """Files PREFIX-<thread>.txt of `signature<TAB>body` lines, as Twilio would sign them."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(data["auth_token"])
    phones = data["phones"]
    url = PUBLIC_URL + PATH
    for thread in range(WRK_THREADS):
        lines = []
        for i in range(count):
            sid = "SM" + os.urandom(16).hex()
            params = {
                "ToCountry": "US",
                "SmsMessageSid": sid,
                "NumMedia": "0",
                "SmsSid": sid,
                "SmsStatus": "received",
                "Body": f"Hello, my order {i} has not arrived yet. Can you check?",
                "To": data["number"],
                "NumSegments": "1",
                "MessageSid": sid,
                "AccountSid": data["account_sid"],
                "From": phones[(thread * count + i) % len(phones)],
                "ApiVersion": "2010-04-01",
            }
            signature = validator.compute_signature(url, params)
            lines.append(f"{signature}\t{urlencode(params)}")
        (VAR_DIR / f"{prefix}-{thread}.txt").write_text("\n".join(lines) + "\n")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))], 2)


def spawn(env: dict[str, str], *args: str, log: str) -> subprocess.Popen[bytes]:
    handle = (VAR_DIR / log).open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env=env,
        cwd=PROJECT_DIR,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ingest_run(server: Gunicorn, agent: AgentSocket, prefix: str, seconds: int) -> dict[str, Any]:
    """One wrk run of webhooks, then wait for every push; the run's end-to-end figures."""
    before = len(agent.arrivals)
    started = time.monotonic()
    result = run_wrk(
        server.base_url + PATH,
        seconds=seconds,
        connections=CONNECTIONS,
        threads=WRK_THREADS,
        script=str(BENCH_DIR / "ingest.lua"),
        script_args=(str(VAR_DIR / prefix),),
    )
    server.ensure_running()
    if result.non_2xx_3xx or result.requests == 0:
        raise BenchError(f"ingest: {result.non_2xx_3xx} webhooks refused:\n{server.log_tail()}")
    # Wait until every accepted webhook is pushed (plus those wrk had in flight at the end),
    # or nothing arrived for QUIET_S.
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    last_count, last_change = len(agent.arrivals), time.monotonic()
    while time.monotonic() < deadline:
        count = len(agent.arrivals)
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        if count - before >= result.requests and time.monotonic() - last_change > 1.0:
            break
        if time.monotonic() - last_change > QUIET_S:
            break
        if agent.error is not None:
            raise BenchError(f"the agent websocket failed: {agent.error!r}")
        time.sleep(0.1)
    arrivals = agent.arrivals[before:]
    pushed = len(arrivals)
    elapsed = (arrivals[-1][0] - started) if arrivals else float("inf")
    latencies = [latency for _, latency in arrivals]
    return {
        "webhooks": result,
        "pushed": pushed,
        "accepted": result.requests,
        "end_to_end_s": round(elapsed, 2),
        "messages_per_s": round(pushed / elapsed, 1) if arrivals else 0.0,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
        "backlog_drain_s": round(elapsed - result.duration_s, 2),
    }


def run() -> dict[str, Any]:
    settings = RunSettings.from_env()
    env = server_env()
    env["PD_PUBLIC_URL"] = PUBLIC_URL
    fixture = prepare(env)
    data = prepare_json(env, "ingest")
    if data["pending"]:
        console.print(f"bench: {data['pending']} events of an earlier run still pending")
    count = MAX_RATE_PER_THREAD * settings.seconds
    prefixes = ["ingest-warmup", *(f"ingest-run{i}" for i in range(1, settings.runs + 1))]
    console.print(f"bench: signing {len(prefixes) * WRK_THREADS * count} webhooks")
    for prefix in prefixes:
        sign_requests(data, prefix, count)
    ws_port = free_port()
    env["PD_WS_URL"] = f"ws://{HOST}:{ws_port}/ws/"
    websocket = spawn(
        env, "uvicorn", "pocketdesk.asgi:application", "--host", HOST, "--port", str(ws_port),
        "--log-level", "warning", "--no-access-log", log="uvicorn.log",
    )  # fmt: skip
    worker = spawn(
        env, "pocketdesk", "db_worker", "--interval", "0.05", "--no-startup-delay",
        log="worker.log",
    )  # fmt: skip
    # As in production (`pocketdesk serve`): the scheduler's sweeps pick up lost tasks.
    scheduler = spawn(env, "pocketdesk", "scheduler", log="scheduler.log")
    runs: list[dict[str, Any]] = []
    bare: list[WrkResult] = []
    try:
        with Gunicorn(env, workers=WORKERS) as server:
            cookie = f"{data['session_cookie']}={data['session_key']}"
            agent = AgentSocket(f"ws://{HOST}:{ws_port}/ws/events", cookie)
            agent.start()
            console.print(f"bench: agent socket connected; warming up {settings.warmup_seconds} s")
            ingest_run(server, agent, "ingest-warmup", settings.warmup_seconds)
            wrk_load(server, "bare", "/healthz", {}, settings.warmup_seconds,
                     connections=CONNECTIONS, threads=WRK_THREADS)  # fmt: skip
            for index in range(1, settings.runs + 1):
                measured = ingest_run(server, agent, f"ingest-run{index}", settings.seconds)
                runs.append(measured)
                healthz = wrk_load(server, "bare", "/healthz", {}, settings.seconds,
                                   connections=CONNECTIONS, threads=WRK_THREADS)  # fmt: skip
                bare.append(healthz)
                console.print(
                    f"  run {index}: webhooks {measured['webhooks'].requests_per_s:.0f}/s, "
                    f"pushed {measured['pushed']} of {measured['accepted']} at "
                    f"{measured['messages_per_s']:.0f} msgs/s end to end (drain "
                    f"{measured['backlog_drain_s']} s, p50 {measured['latency_p50_ms']} ms, "
                    f"p99 {measured['latency_p99_ms']} ms); bare {healthz.requests_per_s:.0f}/s"
                )
            agent.stop()
    finally:
        stop(scheduler)
        stop(worker)
        stop(websocket)
    median = sorted(runs, key=lambda run: run["messages_per_s"])[len(runs) // 2]
    bare_summary = endpoint_summary("bare /healthz", "/healthz", bare, connections=CONNECTIONS)
    hooks = median_run([run["webhooks"] for run in runs])
    ratio = round(median["messages_per_s"] / bare_summary["requests_per_s"], 4)
    after = prepare_json(env, "ingest")
    return {
        "description": (
            "Signed Twilio SMS webhooks (unique MessageSid, senders from seeded customers) at "
            f"{CONNECTIONS} connections: stored raw by gunicorn, processed by one db_worker "
            "(sender -> customer, thread, message, timeline), pushed to an agent's websocket "
            "(uvicorn, SQLite channel layer or Redis). End to end: pushes received / time "
            "from the run's start to the last push."
        ),
        "database": fixture["database"],
        "config": {
            "seconds": settings.seconds,
            "runs": settings.runs,
            "connections": CONNECTIONS,
            "wrk": wrk_version(),
            "server": f"gunicorn pocketdesk.wsgi, {WORKERS} sync workers; uvicorn; 1 db_worker; "
            "scheduler",
            "seed": {"customers": SEED_CUSTOMERS, "seed": SEED},
            "redis": bool(os.environ.get("REDIS_URL")),
        },
        "endpoints": [
            {
                **endpoint_summary("webhook (accept)", PATH, [hooks], connections=CONNECTIONS),
                "method": "POST",
            },
            {
                "name": "end to end (median run)",
                "method": "POST",
                "path": PATH + " -> /ws/events",
                "connections": CONNECTIONS,
                "requests_per_s": median["messages_per_s"],
                "p50_ms": median["latency_p50_ms"],
                "p99_ms": median["latency_p99_ms"],
            },
            bare_summary,
        ],
        "runs": [
            {
                **{k: v for k, v in run.items() if k != "webhooks"},
                "webhooks_per_s": run["webhooks"].requests_per_s,
                "webhook_p99_ms": run["webhooks"].p99_ms,
            }
            for run in runs
        ],
        "stored": {
            "events": after["events"],
            "messages": after["messages"],
            "pending": after["pending"],
        },
        "summary": {
            "ratio": ratio,
            "ratio_is": "end-to-end msgs/s / bare /healthz req/s (median runs)",
            "goal_ratio": ratio >= GOAL_RATIO,
            "goal_ratio_is": f"end to end >= {GOAL_RATIO:.0%} of the bare endpoint",
            "lost": sum(max(0, run["accepted"] - run["pushed"]) for run in runs),
            "median_latency_ms": statistics.median([r["latency_p50_ms"] for r in runs]),
        },
    }
