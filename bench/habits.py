"""habits: learn the preferred channel and best hours of 100,000 customers from 1,000,000
messages (conversations.habits.habits_learn), then an hourly refresh after 1,000 of them wrote.

Runs in a database of its own so its million messages do not weigh on the other benches:
var/bench-habits (SQLite), or with DATABASE_URL set, a database of the same server named
<name>_habits (created if missing). bench/_habits_job.py seeds it once and does the timing.
"""

import json
import os
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from _common import BENCH_DIR, PROJECT_DIR, BenchError, RunSettings, console
from _server import describe_database, server_env

VAR_DIR = PROJECT_DIR / "var" / "bench-habits"


def _own_database(url: str) -> str:
    """The URL of <name>_habits on the same PostgreSQL server, created if missing."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_habits"
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as db:
        if db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            db.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def run() -> dict[str, Any]:
    settings = RunSettings.from_env()
    env = server_env()
    env.update(PD_VAR_DIR=str(VAR_DIR), BENCH_RUNS=str(settings.runs))
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = _own_database(env["DATABASE_URL"])
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    console.print("bench: habits of 100,000 customers from 1,000,000 messages (seeded once)")
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "_habits_job.py")],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(f"bench/_habits_job.py failed ({done.returncode})")
    result: dict[str, Any] = json.loads(lines[-1])
    refresh = result["refresh"]
    return {
        "description": (
            f"habits_learn over {result['customers']:,} customers and {result['messages']:,} "
            "messages (every customer re-learned), then habits_refresh an hour later with "
            f"{refresh['customers']:,} customers touched. "
            f"Database: {describe_database(result['database'])}."
        ),
        "database": result["database"],
        "setup": {"runs": settings.runs, "cpus": os.cpu_count()},
        "endpoints": [],
        "seed": result["seed"],
        "runs": result["runs"],
        "summary": {
            "seconds": result["median_seconds"],
            "seconds_is": "wall seconds to learn and store every customer's habits (median)",
            "messages_per_s": result["messages_per_s"],
            "queries": result["runs"][-1]["queries"],
            "queries_is": "SQL statements in one full run",
            "refresh_seconds": refresh["seconds"],
            "refresh_seconds_is": f"hourly refresh, {refresh['customers']:,} stale customers",
            "idle_refresh_seconds": refresh["idle_seconds"],
            "idle_refresh_seconds_is": "hourly refresh with nothing new (finding no one)",
            "preferred_channels": result["preferred_channels"],
        },
    }
