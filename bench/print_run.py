"""print_run: 100,000 serialised units and their GS1 Digital Link QR codes, from nothing to a
printable sheet and CSV, on a fresh SQLite file in a temporary directory (goal: under 60 s).

Each run is a separate process (`bench/_print_run_job.py`) on a product of its own: the PDF
runs BENCH_RUNS times (median reported), the SVG pages once. A run counts only if every unit
was created and zxing-cpp reads back every code of the sheet's first page.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, PROJECT_DIR, BenchError, RunSettings, console

COUNT = 100_000
GOAL_SECONDS = 60.0
PER_PAGE = 54  # the A4 layout's 6 × 9 grid


def gtin_13(item: int) -> str:
    """A GTIN-13 in GS1's test range (950 6000…) with its check digit."""
    body = f"950600013{item:03d}"
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _job(env: dict[str, str], gtin: str, lot: str, fmt: str, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH_DIR / "_print_run_job.py"),
            gtin,
            lot,
            str(COUNT),
            fmt,
            str(out),
        ],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise BenchError(f"print run {fmt} failed ({done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result["units_created"] != COUNT:
        raise BenchError(f"print run {fmt} created {result['units_created']} units, not {COUNT}")
    if not result["first_page_decoded"] == result["first_page_codes"] == PER_PAGE:
        raise BenchError(
            f"print run {fmt}: zxing-cpp read {result['first_page_decoded']} of the first page's "
            f"{result['first_page_codes']} codes"
        )
    return result


def run() -> dict[str, Any]:
    settings = RunSettings.from_env()
    with tempfile.TemporaryDirectory(prefix="pd-bench-print-run-") as tmp:
        root = Path(tmp)
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="pocketdesk.settings",
            PD_MODE="demo",
            PD_VAR_DIR=str(root / "var"),
            DATABASE_URL=f"sqlite:///{root / 'bench.sqlite3'}",
            DEBUG="false",
        )
        pdf_runs = []
        for index in range(1, settings.runs + 1):
            result = _job(env, gtin_13(index), f"B{index}", "pdf", root / f"pdf-{index}")
            pdf_runs.append(result)
            console.print(
                f"bench: pdf run {index}/{settings.runs}: {result['seconds']:.1f} s "
                f"(units {result['stages']['units']:.1f} s), {result['pages']} pages, "
                f"{result['sheet_bytes'] / 2**20:.1f} MiB"
            )
        svg = _job(env, gtin_13(900), "SVG", "svg", root / "svg")
        console.print(
            f"bench: svg run: {svg['seconds']:.1f} s, {svg['sheet_files']} files, "
            f"{svg['sheet_bytes'] / 2**20:.1f} MiB"
        )
    median = statistics.median(run["seconds"] for run in pdf_runs)
    return {
        "description": (
            f"print run of {COUNT:,} units: rows inserted in one transaction while two worker "
            "processes draw the QR codes (libzint via zxing-cpp) as vector paths; an A4 PDF "
            "(54 codes a page) or one SVG per page, and a CSV. Fresh SQLite file per bench."
        ),
        "database": {"vendor": "sqlite", "version": pdf_runs[0]["sqlite"], "name": "temporary"},
        # Not "config": run.py prints that as a wrk set-up.
        "setup": {"count": COUNT, "runs": settings.runs, "cpus": os.cpu_count()},
        "endpoints": [],
        "runs": {"pdf": pdf_runs, "svg": svg},
        "summary": {
            "pdf_seconds": median,
            "pdf_seconds_is": f"wall seconds for {COUNT:,} units and their PDF (median of runs)",
            "pdf_seconds_per_run": [run["seconds"] for run in pdf_runs],
            "svg_seconds": svg["seconds"],
            "svg_seconds_is": f"wall seconds for {COUNT:,} units and their SVG pages",
            "goal_seconds": GOAL_SECONDS,
            "within_goal": median < GOAL_SECONDS and svg["seconds"] < GOAL_SECONDS,
            "pdf_mib": round(pdf_runs[0]["sheet_bytes"] / 2**20, 1),
            "svg_mib": round(svg["sheet_bytes"] / 2**20, 1),
            "csv_mib": round(pdf_runs[0]["csv_bytes"] / 2**20, 1),
            "units_per_s": round(COUNT / median),
        },
    }
