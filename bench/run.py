"""`make bench [BENCH=name]`: run benches, print their table, write bench/results/<name>.json."""

import importlib
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from _common import BENCH_DIR, RESULTS_DIR, BenchError, RunSettings, console
from _machine import machine_info
from _wrk import wrk_path
from rich.console import Console
from rich.table import Table


def available() -> list[str]:
    """Bench modules: bench/<name>.py, apart from helpers (_*), tests (test_*) and this file."""
    return sorted(
        path.stem
        for path in BENCH_DIR.glob("*.py")
        if not path.stem.startswith(("_", "test_")) and path.stem != "run"
    )


def fmt_ms(ms: float) -> str:
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.2f} ms"
    return f"{ms / 1000:.2f} s"


def print_table(name: str, result: dict[str, Any], out: Console) -> None:
    database = result.get("database") or {}
    config = result.get("config") or {}
    title = f"bench {name}"
    if database:
        title += f" — {database.get('vendor')} {database.get('version')}"
    table = Table(title=title)
    for column in ("endpoint", "conns", "req/s", "p50", "p99", "req/s per run", "errors"):
        table.add_column(column, justify="left" if column == "endpoint" else "right", no_wrap=True)
    for endpoint in result.get("endpoints", []):
        runs = endpoint.get("runs", [])
        errors = sum(
            run.get("non_2xx_3xx", 0) + sum(run.get("socket_errors", {}).values()) for run in runs
        )
        table.add_row(
            endpoint["name"],
            str(endpoint.get("connections", "")),
            f"{endpoint['requests_per_s']:.1f}",
            fmt_ms(endpoint["p50_ms"]),
            fmt_ms(endpoint["p99_ms"]),
            " / ".join(f"{run['requests_per_s']:.0f}" for run in runs),
            str(errors),
        )
    out.print(table)
    for endpoint in result.get("endpoints", []):
        out.print(f"  {endpoint['name']}: {endpoint.get('method', 'GET')} {endpoint['path']}")
    summary = result.get("summary") or {}
    for key, value in summary.items():
        if not key.endswith("_is"):
            meaning = summary.get(f"{key}_is")
            out.print(f"  {key}: {value}" + (f" ({meaning})" if meaning else ""))
    if config:
        out.print(
            f"  median of {config.get('runs')} runs of {config.get('seconds')} s; "
            f"{config.get('server', '')}; wrk {config.get('wrk_threads')} threads"
        )
    if database:
        out.print(f"  database: {database.get('vendor')} {database.get('name')}")


def write_results(name: str, result: dict[str, Any], machine: dict[str, Any]) -> Path:
    figures = {key: value for key, value in result.items() if key != "database"}
    document = {
        "bench": name,
        "date": machine["date"],
        "machine": {**machine, "database": result.get("database")},
        **figures,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the benches' `with` blocks, which stop their servers.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    # Piped or under CI, rich would assume 80 columns and cut the table.
    out = Console(markup=False, highlight=False, width=None if sys.stdout.isatty() else 120)
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        console.print(
            f"unknown bench {', '.join(unknown)}; available: {', '.join(available())}", style="red"
        )
        return 2
    failed = []
    try:
        wrk_path()
        RunSettings.from_env()  # a bad BENCH_SECONDS / BENCH_RUNS stops before any setup
        for name in names:
            console.rule(f"bench {name}")
            machine = machine_info()
            load = machine["load_average_at_start"][0]
            if load > (machine["cpu_count"] or 1) / 2:
                console.print(
                    f"bench: load average {load} on {machine['cpu_count']} CPUs at start; unless "
                    "that was an earlier bench, something else is running: expect noisy figures",
                    style="yellow",
                )
            try:
                result = importlib.import_module(name).run()
            except BenchError as error:
                console.print(f"bench {name} failed: {error}", style="red")
                failed.append(name)
                continue
            machine["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
            print_table(name, result, out)
            path = write_results(name, result, machine)
            out.print(f"  results: {path.relative_to(BENCH_DIR.parent)}")
    except BenchError as error:
        console.print(str(error), style="red")
        return 1
    except KeyboardInterrupt:
        console.print("bench interrupted", style="red")
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
