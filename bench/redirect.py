"""redirect: the public scan `/q/<code>` (two rules that miss, then the fallback) vs the bare
hello-world /livez on the same server, 64 connections, visits recorded in the background.

Afterwards (gunicorn stopped gracefully) the visits written must match the scans wrk completed:
none lost, at most the requests still in flight when each wrk run ended extra.
"""

import http.client
from typing import Any

from _common import HOST, BenchError, RunSettings, console
from _server import (
    SEED,
    SEED_CUSTOMERS,
    Gunicorn,
    endpoint_summary,
    measure_interleaved,
    prepare,
    prepare_json,
    server_env,
)
from _wrk import WrkResult, wrk_version

CONNECTIONS = 64
WRK_THREADS = 2
WORKERS = 2
WORKER_CLASS = "sync"
# The goals: the redirect keeps most of the hello-world's throughput and a short tail.
GOAL_RATIO = 0.70
GOAL_P99_MS = 20.0
# A scan from an English-speaking Android phone: the link's first rule (iOS) misses on its
# device, the second (Android and French) on its language, so it ends at the fallback.
SCAN_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    ),
    "Accept-Language": "en-US,en;q=0.9",
}


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str | None, bytes]:
    """GET from the loopback server: (status, Location, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Location"), response.read()
    finally:
        connection.close()


def check_endpoints(server: Gunicorn, scan_path: str, target_url: str, bare_path: str) -> None:
    """The scan must redirect to the fallback and the hello-world answer ok, or nothing is
    measured. (The scan is recorded too: the visit count allows for it.)"""
    status, location, body = _get(server.port, scan_path, SCAN_HEADERS)
    if status != 302 or location != target_url:
        raise BenchError(
            f"GET {scan_path} answered {status} to {location!r}, not 302 to {target_url!r}: "
            f"{body[:500]!r}"
        )
    status, _, body = _get(server.port, bare_path, {})
    if status != 200 or body != b"ok":
        raise BenchError(f"GET {bare_path} answered {status}: {body[:500]!r}")


def visits_check(recorded: dict[str, Any], scans: list[WrkResult], checks: int) -> dict[str, Any]:
    """Visits written against scans answered. wrk counts the responses it read; a request it
    had sent when its run ended is still served and recorded, so the server may hold up to
    one more visit per connection per run (and per request wrk gave up on)."""
    completed = sum(result.requests for result in scans) + checks
    in_flight_max = sum(CONNECTIONS + sum(result.socket_errors.values()) for result in scans)
    written = recorded["visits"]
    return {
        "scans_completed": completed,
        "scans_in_flight_max": in_flight_max,
        "visits_written": written,
        "visits_lost": max(0, completed - written),
        "visits_unexplained": max(0, written - completed - in_flight_max),
        "visit_count": recorded["visit_count"],
        "ok": completed <= written <= completed + in_flight_max
        # every scan is a human redirect, so the link counts each one
        and recorded["redirects"] == written
        and recorded["visit_count"] == written,
    }


def run() -> dict[str, Any]:
    settings = RunSettings.from_env()
    env = server_env()
    env["PD_VISITS_IN_BACKGROUND"] = "1"  # as in production (the default outside tests)
    fixture = prepare(env)
    link = prepare_json(env, "link")
    scan_path = f"/q/{link['code']}"
    bare_path = "/livez"
    targets = {"redirect": (scan_path, SCAN_HEADERS), "hello": (bare_path, {})}
    with Gunicorn(env, workers=WORKERS, worker_class=WORKER_CLASS) as server:
        check_endpoints(server, scan_path, link["target_url"], bare_path)
        checks = 1  # check_endpoints scanned once
        console.print(
            f"bench: {scan_path} redirects to {link['target_url']} ({link['rules']} rules "
            f"missed); warming up {settings.warmup_seconds} s per endpoint"
        )
        results, every = measure_interleaved(
            server, targets, settings, connections=CONNECTIONS, threads=WRK_THREADS
        )
        scans = every["redirect"]  # warm-ups included: they were scans too
    # Stopped gracefully (SIGTERM): each worker wrote its waiting visits on the way out.
    log_errors = server.log_errors()
    if log_errors:
        console.print(f"bench: the server logged errors: {log_errors[:5]}", style="yellow")
    visits = visits_check(prepare_json(env, "visits"), scans, checks)
    summary = (
        f"{visits['visits_written']} visits written (link count {visits['visit_count']}) for "
        f"{visits['scans_completed']} scans completed, plus at most "
        f"{visits['scans_in_flight_max']} in flight; gunicorn exited with {server.exit_code}"
    )
    if not visits["ok"]:
        # The figures stand, but a scan the server answered and did not record is a bug.
        raise BenchError(f"visits do not match the scans: {summary}\n{server.log_tail()}")
    console.print(f"bench: {summary}: ok")
    redirect = endpoint_summary("redirect", scan_path, results["redirect"], connections=CONNECTIONS)
    hello = endpoint_summary("hello", bare_path, results["hello"], connections=CONNECTIONS)
    ratio = round(redirect["requests_per_s"] / hello["requests_per_s"], 4)
    return {
        "description": (
            f"Public scan GET {scan_path} (a link with two rules that do not match, then the "
            "fallback: 302; Android UA, Accept-Language en-US; visits recorded by the "
            "background thread as in production) against the same server's hello-world "
            f"(GET {bare_path}: no database)."
        ),
        "database": fixture["database"],
        "config": {
            "seconds": settings.seconds,
            "runs": settings.runs,
            "warmup_seconds": settings.warmup_seconds,
            "connections": CONNECTIONS,
            "wrk_threads": WRK_THREADS,
            "wrk": wrk_version(),
            "server": f"gunicorn pocketdesk.wsgi, {WORKERS} {WORKER_CLASS} workers",
            "server_env": {"PD_VISITS_IN_BACKGROUND": "1"},
            "seed": {"customers": SEED_CUSTOMERS, "seed": SEED},
            "link": {"code": link["code"], "rules": link["rules"], "target": link["target_url"]},
            "scan_headers": SCAN_HEADERS,
            "server_exit_code": server.exit_code,
            "server_log_errors": log_errors[:20],
        },
        "endpoints": [redirect, hello],
        "visits": visits,
        "summary": {
            "ratio": ratio,
            "ratio_is": "redirect req/s / hello req/s (median runs)",
            # Runs are interleaved, so each pair saw the same machine: a check on noise.
            "ratio_per_run": [
                round(pair[0].requests_per_s / pair[1].requests_per_s, 4)
                for pair in zip(results["redirect"], results["hello"], strict=True)
            ],
            "goal_ratio": ratio >= GOAL_RATIO,
            "goal_ratio_is": f"redirect req/s >= {GOAL_RATIO:.0%} of hello's",
            "goal_p99": redirect["p99_ms"] < GOAL_P99_MS,
            "goal_p99_is": f"redirect p99 < {GOAL_P99_MS:g} ms",
            "visits_ok": visits["ok"],
            "visits_ok_is": (
                f"{visits['visits_written']} visits written for {visits['scans_completed']} "
                f"scans completed, at most {visits['scans_in_flight_max']} more allowed"
            ),
        },
    }
