"""wrk: run `wrk --latency` against the loopback server and parse its report into numbers."""

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from _common import HOST, BenchError

WRK_MISSING = "bench needs wrk: apt-get install wrk"
# wrk prints times as 812.00us, 12.34ms, 1.50s, 2.00m or 1.00h.
TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1_000.0, "m": 60_000.0, "h": 3_600_000.0}
PERCENTILES = (50, 75, 90, 99)

_TIME = r"([\d.]+)(us|ms|s|m|h)"
_REQUESTS_PER_S = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_PERCENTILE = re.compile(rf"^\s+(\d+)%\s+{_TIME}\s*$", re.MULTILINE)
_LATENCY = re.compile(rf"^\s+Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}\s", re.MULTILINE)
_TOTAL = re.compile(rf"^\s+(\d+) requests in {_TIME},", re.MULTILINE)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


class WrkParseError(BenchError):
    """wrk's output did not have the figures we need."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds."""

    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    latency_avg_ms: float
    latency_max_ms: float
    requests: int
    duration_s: float
    non_2xx_3xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())


def to_ms(value: str, unit: str) -> float:
    """A wrk time (number and unit) in milliseconds."""
    try:
        # wrk prints 2 decimals; rounding drops float noise such as 0.15400000000000003.
        return round(float(value) * TIME_UNITS_MS[unit], 5)
    except KeyError:
        raise WrkParseError(f"unknown wrk time unit {unit!r}") from None


def parse_wrk_output(output: str) -> WrkResult:
    """Parse the report `wrk --latency` prints."""
    rate = _REQUESTS_PER_S.search(output)
    percentiles = {int(p): to_ms(value, unit) for p, value, unit in _PERCENTILE.findall(output)}
    latency = _LATENCY.search(output)
    total = _TOTAL.search(output)
    missing = [
        name
        for name, found in (
            ("Requests/sec", rate),
            ("Latency", latency),
            ("N requests in T", total),
            (
                "Latency Distribution (run wrk with --latency)",
                set(PERCENTILES) <= percentiles.keys(),
            ),
        )
        if not found
    ]
    if missing or rate is None or latency is None or total is None:
        raise WrkParseError(f"wrk output lacks {', '.join(missing)}:\n{output}")
    errors = _SOCKET_ERRORS.search(output)
    non_2xx = _NON_2XX.search(output)
    return WrkResult(
        requests_per_s=float(rate.group(1)),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        latency_avg_ms=to_ms(latency.group(1), latency.group(2)),
        latency_max_ms=to_ms(latency.group(5), latency.group(6)),
        requests=int(total.group(1)),
        duration_s=to_ms(total.group(2), total.group(3)) / 1000,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=(
            dict(
                zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
            )
            if errors
            else {}
        ),
    )


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError(WRK_MISSING)
    return path


def wrk_version() -> str:
    # `wrk -v` prints "wrk <version> [epoll] Copyright ..." then its usage, and exits 1.
    done = subprocess.run(
        [wrk_path(), "-v"], capture_output=True, text=True, check=False, timeout=10
    )
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    timeout_s: int = 10,
    script: str | None = None,
    script_args: tuple[str, ...] = (),
) -> WrkResult:
    """Load `url` (which must be on 127.0.0.1) for `seconds` and return the parsed report."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != HOST:
        raise BenchError(f"benches only load http://{HOST}, not {url}")
    command = [
        wrk_path(),
        "--latency",
        f"--threads={min(threads, connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        f"--timeout={timeout_s}s",
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    if script is not None:
        command += ["--script", script]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=seconds + 60
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 60} s") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return parse_wrk_output(done.stdout)


def median_run(results: list[WrkResult]) -> WrkResult:
    """The run with the median req/s (the lower middle one for an even count)."""
    if not results:
        raise BenchError("no wrk runs to summarise")
    ranked = sorted(results, key=lambda result: result.requests_per_s)
    return ranked[(len(ranked) - 1) // 2]
