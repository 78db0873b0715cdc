"""lookup: staff customer search by phone (national format) vs the bare /healthz, 32 connections."""

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from _common import BenchError, RunSettings, console
from _server import SEED, SEED_CUSTOMERS, Gunicorn, http_get, prepare, server_env
from _wrk import WrkResult, median_run, run_wrk, wrk_version

CONNECTIONS = 32
WRK_THREADS = 2
WORKERS = 2
WORKER_CLASS = "sync"


def check_lookup(server: Gunicorn, path: str, headers: dict[str, str], customer_id: str) -> None:
    """The search must answer 200 with exactly the expected customer, or nothing is measured."""
    status, body = http_get(server.port, path, headers)
    if status != 200:
        raise BenchError(f"GET {path} answered {status}, not 200: {body[:500]!r}")
    try:
        results = json.loads(body)["results"]
        found = [result["id"] for result in results]
    except (ValueError, KeyError, TypeError):
        raise BenchError(f"GET {path} did not answer a page of customers: {body[:500]!r}") from None
    if found != [customer_id]:
        raise BenchError(f"GET {path} found {found}, expected exactly [{customer_id!r}]")
    status, body = http_get(server.port, "/healthz")
    if status != 200 or body.strip() != b'{"ok": true}':
        raise BenchError(f"GET /healthz answered {status}: {body[:500]!r}")


def _load(
    server: Gunicorn, name: str, path: str, headers: dict[str, str], seconds: int
) -> WrkResult:
    server.ensure_running()
    result = run_wrk(
        server.base_url + path,
        seconds=seconds,
        connections=CONNECTIONS,
        threads=WRK_THREADS,
        headers=headers,
    )
    server.ensure_running()
    if result.requests == 0:
        raise BenchError(
            f"{name}: wrk completed no requests in {seconds} s (socket errors "
            f"{result.socket_errors})"
        )
    if result.non_2xx_3xx:
        raise BenchError(
            f"{name}: {result.non_2xx_3xx} of {result.requests} responses were not 2xx/3xx; "
            f"the figures are not valid. Server log:\n{server.log_tail()}"
        )
    if sum(result.socket_errors.values()):
        console.print(f"bench: {name}: socket errors {result.socket_errors}", style="yellow")
    return result


def _endpoint(name: str, path: str, runs: list[WrkResult]) -> dict[str, Any]:
    median = median_run(runs)
    return {
        "name": name,
        "method": "GET",
        "path": path,
        "connections": CONNECTIONS,
        "requests_per_s": median.requests_per_s,
        "p50_ms": median.p50_ms,
        "p99_ms": median.p99_ms,
        "median_run": runs.index(median) + 1,
        "runs": [asdict(run) for run in runs],
    }


def run() -> dict[str, Any]:
    settings = RunSettings.from_env()
    env = server_env()
    fixture = prepare(env)
    lookup_path = "/api/v1/customers?q=" + quote(fixture["phone_query"], safe="")
    bare_path = "/healthz"
    auth = {"Authorization": f"Bearer {fixture['token']}"}
    targets = {"lookup": (lookup_path, auth), "bare": (bare_path, {})}
    results: dict[str, list[WrkResult]] = {name: [] for name in targets}
    with Gunicorn(env, workers=WORKERS, worker_class=WORKER_CLASS) as server:
        check_lookup(server, lookup_path, auth, fixture["customer_id"])
        console.print(
            f"bench: {fixture['phone_query']!r} finds {fixture['customer_id']}; warming up "
            f"{settings.warmup_seconds} s per endpoint"
        )
        for name, (path, headers) in targets.items():
            _load(server, name, path, headers, settings.warmup_seconds)
        for index in range(1, settings.runs + 1):
            # Interleaved, so drift on the machine touches both endpoints alike.
            for name, (path, headers) in targets.items():
                result = _load(server, name, path, headers, settings.seconds)
                results[name].append(result)
                console.print(
                    f"bench: run {index}/{settings.runs} {name:<6} "
                    f"{result.requests_per_s:>9.1f} req/s  p50 {result.p50_ms:.2f} ms  "
                    f"p99 {result.p99_ms:.2f} ms"
                )
        log_errors = server.log_errors()
    if log_errors:
        console.print(f"bench: the server logged errors: {log_errors[:5]}", style="yellow")
    lookup = _endpoint("lookup", lookup_path, results["lookup"])
    bare = _endpoint("bare", bare_path, results["bare"])
    return {
        "description": (
            "Staff customer search by phone in national format "
            f"(GET /api/v1/customers?q={fixture['phone_query']}, bearer token) against the same "
            "server's bare endpoint (GET /healthz: one indexed SELECT)."
        ),
        "database": {**fixture["database"], "customers": fixture["customers"]},
        "config": {
            "seconds": settings.seconds,
            "runs": settings.runs,
            "warmup_seconds": settings.warmup_seconds,
            "connections": CONNECTIONS,
            "wrk_threads": WRK_THREADS,
            "wrk": wrk_version(),
            "server": f"gunicorn pocketdesk.wsgi, {WORKERS} {WORKER_CLASS} workers",
            "seed": {"customers": SEED_CUSTOMERS, "seed": SEED},
            "query": {"phone": fixture["phone_e164"], "as_typed": fixture["phone_query"]},
            "server_log_errors": log_errors[:20],
        },
        "endpoints": [lookup, bare],
        "summary": {
            "ratio": round(lookup["requests_per_s"] / bare["requests_per_s"], 4),
            "ratio_is": "lookup req/s / bare req/s (median runs)",
            # Runs are interleaved, so each pair saw the same machine: a check on noise.
            "ratio_per_run": [
                round(pair[0].requests_per_s / pair[1].requests_per_s, 4)
                for pair in zip(results["lookup"], results["bare"], strict=True)
            ],
        },
    }
