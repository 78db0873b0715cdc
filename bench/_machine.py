"""What the figures were measured on: CPU, memory, Python, versions, git commit and date."""

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import PROJECT_DIR


def _first_value(path: Path, keys: tuple[str, ...]) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for key in keys:
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return None


def cpu_model() -> str:
    # x86 has "model name"; some ARM kernels only give "Hardware" or "Processor".
    found = _first_value(Path("/proc/cpuinfo"), ("model name", "Hardware", "Processor"))
    return found or platform.processor() or "unknown"


def memory_total_bytes() -> int | None:
    found = _first_value(Path("/proc/meminfo"), ("MemTotal",))
    if found is None or not found.endswith(" kB"):
        return None
    return int(found.removesuffix(" kB")) * 1024


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    memory = memory_total_bytes()
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_total_bytes": memory,
        "memory_total_gib": round(memory / 2**30, 1) if memory else None,
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "git_commit": _git("rev-parse", "HEAD"),
        # Uncommitted changes to tracked files: the figures are for the tree, not the commit.
        "git_dirty": bool(status) if status is not None else None,
        "versions": {
            package: _version(package)
            for package in ("django", "django-ninja", "gunicorn", "psycopg", "phonenumbers")
        },
    }
