"""Shared by every bench: paths, the loopback host, run settings from the env, the console."""

import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
# Benches only ever talk to a server they started on the loopback interface.
HOST = "127.0.0.1"

# Progress and warnings on stderr (no markup: messages quote paths and lists); run.py prints
# the results table on stdout.
console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


class BenchError(Exception):
    """A bench cannot run or its results are not valid; run.py shows the message and stops."""


@dataclass(frozen=True)
class RunSettings:
    seconds: int
    runs: int
    warmup_seconds: int

    @classmethod
    def from_env(cls) -> "RunSettings":
        seconds = _positive_int("BENCH_SECONDS", 10)
        return cls(
            seconds=seconds, runs=_positive_int("BENCH_RUNS", 3), warmup_seconds=min(3, seconds)
        )


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise BenchError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return value
