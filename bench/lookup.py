"""lookup: staff customer search by phone (national format) vs the bare /healthz, 32 connections."""

import json
from typing import Any
from urllib.parse import quote

from _common import BenchError, RunSettings, console
from _server import (
    SEED,
    SEED_CUSTOMERS,
    Gunicorn,
    endpoint_summary,
    http_get,
    measure_interleaved,
    prepare,
    server_env,
)
from _wrk import wrk_version

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


def run() -> dict[str, Any]:
    settings = RunSettings.from_env()
    env = server_env()
    fixture = prepare(env)
    lookup_path = "/api/v1/customers?q=" + quote(fixture["phone_query"], safe="")
    bare_path = "/healthz"
    auth = {"Authorization": f"Bearer {fixture['token']}"}
    targets = {"lookup": (lookup_path, auth), "bare": (bare_path, {})}
    with Gunicorn(env, workers=WORKERS, worker_class=WORKER_CLASS) as server:
        check_lookup(server, lookup_path, auth, fixture["customer_id"])
        console.print(
            f"bench: {fixture['phone_query']!r} finds {fixture['customer_id']}; warming up "
            f"{settings.warmup_seconds} s per endpoint"
        )
        results, _ = measure_interleaved(
            server, targets, settings, connections=CONNECTIONS, threads=WRK_THREADS
        )
        log_errors = server.log_errors()
    if log_errors:
        console.print(f"bench: the server logged errors: {log_errors[:5]}", style="yellow")
    lookup = endpoint_summary("lookup", lookup_path, results["lookup"], connections=CONNECTIONS)
    bare = endpoint_summary("bare", bare_path, results["bare"], connections=CONNECTIONS)
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
