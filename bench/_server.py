"""The server under test: migrated, seeded demo data (var/bench, or DATABASE_URL) behind
gunicorn on 127.0.0.1, stopped cleanly however the bench ends."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from _common import BENCH_DIR, HOST, PROJECT_DIR, BenchError, RunSettings, console
from _wrk import WrkResult, median_run, run_wrk

VAR_DIR = PROJECT_DIR / "var" / "bench"
SEED_CUSTOMERS = 10_000
SEED = 7
READY_TIMEOUT_S = 60


def server_env() -> dict[str, str]:
    """This process's env (so DATABASE_URL, REDIS_URL… carry over) set up for the bench."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="pocketdesk.settings",
        PD_MODE="demo",
        PD_VAR_DIR=str(VAR_DIR),
        DEBUG="false",  # DEBUG keeps every query in memory: not what production runs
        ALLOWED_HOSTS=HOST,
    )
    return env


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _pocketdesk(env: dict[str, str], *args: str, show_output: bool = False) -> None:
    """Run a `pocketdesk` management command in the bench env; its output goes to stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "pocketdesk", *args],
        env=env,
        cwd=PROJECT_DIR,
        stdout=sys.stderr if show_output else subprocess.PIPE,
        stderr=None if show_output else subprocess.STDOUT,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        detail = "see above" if show_output else _tail(done.stdout or "")
        raise BenchError(f"`pocketdesk {' '.join(args)}` failed ({done.returncode}):\n{detail}")


def prepare_json(env: dict[str, str], action: str) -> dict[str, Any]:
    """Run `bench/_prepare.py action` in the bench env: the JSON line it prints."""
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "_prepare.py"), action],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(
            f"bench/_prepare.py {action} failed ({done.returncode}):\n{_tail(done.stderr)}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def describe_database(database: dict[str, Any]) -> str:
    where = f" on {database['host']}" if database.get("host") else ""
    return f"{database['vendor']} {database['version']} ({database['name']}{where})"


def prepare(env: dict[str, str]) -> dict[str, Any]:
    """Migrate, seed once (later runs reuse the data), and make a fresh agent token.

    Only an empty database or one holding the bench seed is used: a database with anything
    else (a real one behind a stray DATABASE_URL) is refused before migrate touches it.
    Returns the token, the demo customer's id and phone, and the database description.
    """
    state = prepare_json(env, "status")
    database = describe_database(state["database"])
    empty = state["tables"] == 0 or (
        state["pocketdesk_tables"] and state["customers"] == 0 and state["users"] == 0
    )
    seeded = state["agent"] and state["demo_customer"] and state["customers"] >= SEED_CUSTOMERS
    if not (empty or seeded):
        fix = (
            "point DATABASE_URL at an empty database"
            if state["database"]["from_database_url"]
            else f"delete {VAR_DIR} to start over"
        )
        raise BenchError(
            f"{database} holds data that is not the bench seed ({state['tables']} tables, "
            f"{state['customers']} customers, {state['users']} users): {fix}"
        )
    _pocketdesk(env, "migrate", "--no-input", "-v", "0")
    if empty:
        console.print(f"bench: seeding {SEED_CUSTOMERS} customers into {database} (only once)")
        _pocketdesk(
            env, "demo-seed", "--customers", str(SEED_CUSTOMERS), "--seed", str(SEED),
            show_output=True,
        )  # fmt: skip
    else:
        console.print(f"bench: reusing the seeded data in {database}")
    _pocketdesk(env, "collectstatic", "--no-input", "-v", "0")
    return prepare_json(env, "fixture")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET from the loopback server: (status, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Gunicorn:
    """`with Gunicorn(env) as server:` gunicorn on 127.0.0.1, answering /healthz, then stopped."""

    def __init__(
        self, env: dict[str, str], *, workers: int = 2, worker_class: str = "sync"
    ) -> None:
        self.env = env
        self.workers = workers
        self.worker_class = worker_class
        self.port = free_port()
        self.log_path: Path = VAR_DIR / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None
        # gunicorn's exit status once stopped (0: every worker shut down cleanly).
        self.exit_code: int | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "pocketdesk.wsgi",
            "--bind", f"{HOST}:{self.port}",
            "--workers", str(self.workers),
            "--worker-class", self.worker_class,
            "--graceful-timeout", "10",
            "--log-level", "warning",
        ]  # fmt: skip
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        # Its own session: Ctrl-C reaches only the harness, which then stops gunicorn
        # gracefully (SIGTERM) instead of gunicorn's quick SIGINT shutdown.
        self.process = subprocess.Popen(
            command,
            env=self.env,
            cwd=PROJECT_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        console.print(
            f"bench: gunicorn on {self.base_url} ({self.workers} {self.worker_class} workers)"
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"gunicorn exited with {self.process.returncode} before answering:\n"
                    f"{self.log_tail()}"
                )
            try:
                status, _ = http_get(self.port, "/healthz")
            except OSError:
                status = 0
            if status == 200:
                return
            time.sleep(0.2)
        raise BenchError(
            f"/healthz did not answer 200 within {READY_TIMEOUT_S} s:\n{self.log_tail()}"
        )

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = self.process.returncode if self.process is not None else None
            raise BenchError(f"gunicorn is not running (exit {code}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return _tail(self.log_path.read_text(encoding="utf-8", errors="replace"), lines)
        except OSError:
            return "(no gunicorn log)"

    def log_errors(self) -> list[str]:
        """Lines of the server log that report errors (tracebacks, ERROR, CRITICAL)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        markers = ("Traceback", "[ERROR]", "[CRITICAL]", "Internal Server Error")
        return [line for line in text.splitlines() if any(m in line for m in markers)]

    def stop(self) -> None:
        """SIGTERM (gunicorn finishes requests in flight), SIGKILL after 30 s or on Ctrl-C."""
        process, self.process = self.process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            console.print("bench: gunicorn ignored SIGTERM for 30 s; killing it", style="yellow")
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            if process is not None:
                self.exit_code = process.returncode
            if self._log is not None:
                self._log.close()
                self._log = None


def wrk_load(
    server: Gunicorn,
    name: str,
    path: str,
    headers: dict[str, str],
    seconds: int,
    *,
    connections: int,
    threads: int,
) -> WrkResult:
    """One wrk run against a live server; invalid figures (errors, nothing done) raise."""
    server.ensure_running()
    result = run_wrk(
        server.base_url + path,
        seconds=seconds,
        connections=connections,
        threads=threads,
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


def endpoint_summary(
    name: str, path: str, runs: list[WrkResult], *, connections: int
) -> dict[str, Any]:
    """The median run of an endpoint, with every run kept."""
    median = median_run(runs)
    return {
        "name": name,
        "method": "GET",
        "path": path,
        "connections": connections,
        "requests_per_s": median.requests_per_s,
        "p50_ms": median.p50_ms,
        "p90_ms": median.p90_ms,
        "p99_ms": median.p99_ms,
        "median_run": runs.index(median) + 1,
        "runs": [asdict(run) for run in runs],
    }


def measure_interleaved(
    server: Gunicorn,
    targets: dict[str, tuple[str, dict[str, str]]],
    settings: RunSettings,
    *,
    connections: int,
    threads: int,
) -> tuple[dict[str, list[WrkResult]], dict[str, list[WrkResult]]]:
    """A warm-up per endpoint, then `settings.runs` interleaved runs (drift on the machine
    touches every endpoint alike). Returns the measured runs, and every run warm-ups included."""
    measured: dict[str, list[WrkResult]] = {name: [] for name in targets}
    every: dict[str, list[WrkResult]] = {name: [] for name in targets}

    def load(name: str, seconds: int) -> WrkResult:
        path, headers = targets[name]
        result = wrk_load(
            server, name, path, headers, seconds, connections=connections, threads=threads
        )
        every[name].append(result)
        return result

    for name in targets:
        load(name, settings.warmup_seconds)
    width = max(len(name) for name in targets)
    for index in range(1, settings.runs + 1):
        for name in targets:
            result = load(name, settings.seconds)
            measured[name].append(result)
            console.print(
                f"bench: run {index}/{settings.runs} {name:<{width}} "
                f"{result.requests_per_s:>9.1f} req/s  p50 {result.p50_ms:.2f} ms  "
                f"p99 {result.p99_ms:.2f} ms"
            )
    return measured, every
