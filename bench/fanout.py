"""fanout: one event for a topic followed by 100,000 customers becomes 100,000 notifications
(alerts consent, channel ranking and send windows checked per recipient), goal ≤ 10 s.

The bench database (var/bench, or DATABASE_URL) is migrated and seeded as for the HTTP benches;
`bench/_prepare.py fanout` adds the rest of the audience once (not timed), then times
`event_accept` + `event_fan_out` in-process BENCH_RUNS times, each a new event, and deletes
the bench's events and notifications afterwards. No email or SMS is sent: handing the due
notifications to the outbox is not part of this bench.
"""

import os
from typing import Any

from _common import BenchError, RunSettings, console
from _server import describe_database, prepare, prepare_json, server_env

AUDIENCE = 100_000
GOAL_SECONDS = 10.0


def run() -> dict[str, Any]:
    settings = RunSettings.from_env()
    env = server_env()
    env["BENCH_RUNS"] = str(settings.runs)
    prepare(env)
    console.print(f"bench: fan-out of {AUDIENCE:,} recipients, {settings.runs} runs")
    result = prepare_json(env, "fanout")
    seed = result["seed"]
    console.print(
        f"bench: audience seed {'made' if seed['made'] else 'reused'} in {seed['seconds']:.1f} s "
        f"({seed['customers_added']:,} customers added, {seed['subscribers']:,} subscribers)"
    )
    runs = result["runs"]
    for index, one in enumerate(runs, 1):
        console.print(
            f"bench: run {index}/{len(runs)}: {one['seconds']:.2f} s, "
            f"{one['notification_rows']:,} notifications, {one['queries']} queries"
        )
        if one["notification_rows"] != AUDIENCE or one["recipients"] != AUDIENCE:
            raise BenchError(
                f"run {index} wrote {one['notification_rows']:,} notifications, not {AUDIENCE:,}"
            )
    median = result["median_seconds"]
    database = result["database"]
    return {
        "description": (
            f"event_accept + event_fan_out in-process for a topic with {AUDIENCE:,} subscribers "
            "(alerts consent, channel ranking, send windows): every notification row written. "
            f"Database: {describe_database(database)}."
        ),
        "database": database,
        # Not "config": run.py prints that as a wrk set-up.
        "setup": {"audience": AUDIENCE, "runs": settings.runs, "cpus": os.cpu_count()},
        "endpoints": [],
        "seed": seed,
        "runs": runs,
        "summary": {
            "seconds": median,
            "seconds_is": f"wall seconds from event_accept to {AUDIENCE:,} rows (median)",
            "seconds_per_run": [one["seconds"] for one in runs],
            "recipients_per_s": round(AUDIENCE / median),
            "queries": runs[-1]["queries"],
            "queries_is": "SQL statements in one run (CaptureQueriesContext)",
            "goal_seconds": GOAL_SECONDS,
            "within_goal": median <= GOAL_SECONDS,
            "outcomes": runs[-1]["by_status"],
            "outcomes_is": "notifications by status and skip reason or channel (last run)",
            "deferred_by_window": runs[-1]["deferred_by_window"],
            "deferred_by_window_is": "scheduled past now by the customer's send windows",
        },
    }
