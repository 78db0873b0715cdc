"""notify_email: N due e-mail notifications (100,000; BENCH_NOTIFY_N or --n for quick runs)
delivered to a local aiosmtpd sink by real worker processes, against the sink's accept rate
measured by a plain smtplib loop in the same run; goal ≥ 80% of it. Also times
`notifications_due` handing the N notifications to the outbox on its own.

Phases, in the bench database (var/bench, or DATABASE_URL), seeded once with N customers who
have an e-mail address, alerts consent, no send windows, and follow one topic:

1. plain: a process of its own sends N prebuilt messages shaped like ours over one smtplib
   connection to the sink (in a thread of this process, which only waits meanwhile);
2. due: an event for the topic is fanned out (not timed) and `notifications_due` runs
   in-process until all N are handed to the outbox (timed); the outbox rows are then dropped;
3. ours: the same fan-out (not timed) with `notifications_due` queued, then BENCH_NOTIFY_WORKERS
   (default 2 on PostgreSQL, 1 on SQLite) `pocketdesk db_worker` processes start, with a tick
   queueing `notifications_due` and the messaging sweep every second as `pocketdesk scheduler`
   would (without the other apps' periodic tasks, which would take workers from the run);
   timed from their start until the sink has accepted N messages: the engine,
   `outbound_queue_many`, `outbound_send_batch` (one SMTP connection a batch), the receipts,
   all in the workers. Also where the machine's CPU went, per message.
"""

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from _common import BENCH_DIR, PROJECT_DIR, BenchError, console
from _server import VAR_DIR, describe_database, prepare, prepare_json, server_env
from _smtp_sink import SmtpSink

GOAL_RATIO = 0.80
# No message for this long while waiting for N: the run is stuck.
STALL_SECONDS = 90.0
TEXT = "Your flight BN100 is delayed to 14:35."
SUBJECT = "Flight delayed"


def _n() -> int:
    return int(os.environ.get("BENCH_NOTIFY_N") or 100_000)


def _workers(vendor: str) -> int:
    """Two workers on PostgreSQL; one on SQLite, whose single writer two workers only queue
    for (and `db_worker` exits when its own BEGIN waits past the 5 s busy timeout)."""
    return int(os.environ.get("BENCH_NOTIFY_WORKERS") or (2 if vendor == "postgresql" else 1))


def _plain(port: int, n: int) -> float:
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "_smtp_sink.py"), str(port), str(n), TEXT, SUBJECT],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"the plain smtplib loop failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


class _Processes:
    """The workers and the bench's scheduler (`_notify_email_job.tick`), logging to var/bench,
    stopped however the bench ends."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.env = env
        worker = ["-m", "pocketdesk", "db_worker", "--interval", "0.05", "--no-startup-delay"]
        self.commands = [[*worker, "--worker-id", f"bench{i}"] for i in range(workers)] + [
            [str(BENCH_DIR / "_prepare.py"), "notify_email_tick"]
        ]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    def __enter__(self) -> "_Processes":
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        for index, command in enumerate(self.commands):
            log = (VAR_DIR / f"notify-email-{index}.log").open("wb")
            self.logs.append(log)
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, *command],
                    env=self.env,
                    cwd=PROJECT_DIR,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return self

    def check(self) -> None:
        for command, process in zip(self.commands, self.processes, strict=True):
            if process.poll() is not None:
                raise BenchError(f"`{' '.join(command)}` exited with {process.returncode}")

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()


def _machine_cpu_seconds() -> float:
    """CPU time of the whole machine (all cores, busy states) from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _database_cpu_seconds(name: str) -> float:
    """CPU time of the PostgreSQL backends serving database `name` (their process titles name
    it); 0 for SQLite, which runs inside the workers."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres: ") or f" {name} " not in title:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _ours(
    env: dict[str, str], sink: SmtpSink, n: int, workers: int, database: str
) -> dict[str, Any]:
    sink.reset()
    setup = prepare_json(env, "notify_email_setup")
    if setup["due"] != n:
        raise BenchError(f"the fan-out made {setup['due']:,} due notifications, not {n:,}")
    console.print(f"bench: {n:,} notifications due; starting {workers} workers and the ticks")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own, machine = time.process_time(), _machine_cpu_seconds()
    with _Processes(env, workers) as processes:
        started = time.monotonic()
        seen, seen_at = 0, started
        while True:
            accepted = sink.accepted
            now = time.monotonic()
            if accepted >= n:
                break
            if accepted != seen:
                seen, seen_at = accepted, now
            elif now - seen_at > STALL_SECONDS:
                raise BenchError(f"stuck at {accepted:,}/{n:,} messages for {STALL_SECONDS:.0f} s")
            processes.check()
            time.sleep(0.05)
        seconds = time.monotonic() - started
        own, machine = time.process_time() - own, _machine_cpu_seconds() - machine
        # The workers' connections were opened for the run and are still open.
        database_cpu = _database_cpu_seconds(database)
        time.sleep(1.0)  # anything sent twice arrives now
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    first, last = sink.span()
    check = prepare_json(env, "notify_email_check")
    return {
        "seconds": round(seconds, 2),
        "messages_per_s": round(n / seconds, 1),
        "first_message_after_s": round(first - started, 2) if first else None,
        "sending_messages_per_s": round(n / (last - first), 1) if first and last else None,
        "accepted": sink.accepted,
        "recipients": sink.recipients(),
        "duplicates": sink.duplicates(),
        "fan_out_seconds": setup["fan_out_seconds"],
        # Where the machine's CPU went during the run, in ms a message: the worker processes
        # (engine, outbox, receipts; and the tick), the SMTP sink (this process), the database
        # server's backends for the run, and the rest (the kernel's share, anything else).
        "cpu_ms_per_message": {
            "workers": round(workers_cpu * 1000 / n, 3),
            "sink": round(own * 1000 / n, 3),
            "database": round(database_cpu * 1000 / n, 3),
            "rest": round((machine - workers_cpu - own - database_cpu) * 1000 / n, 3),
            "machine": round(machine * 1000 / n, 3),
        },
        "after": check,
    }


def run() -> dict[str, Any]:
    n = _n()
    env = server_env()
    env["BENCH_NOTIFY_N"] = str(n)
    env["DJANGO_LOG_LEVEL"] = env.get("DJANGO_LOG_LEVEL", "WARNING")
    fixture = prepare(env)
    database = fixture["database"]
    workers = _workers(database["vendor"])
    with SmtpSink() as sink:
        env["BENCH_SMTP_PORT"] = str(sink.port)
        console.print(f"bench: plain smtplib loop, {n:,} messages, one connection")
        plain = _plain(sink.port, n)
        if sink.accepted != n:
            raise BenchError(f"the sink accepted {sink.accepted:,} of {n:,} plain messages")
        console.print(f"bench: plain smtplib loop: {plain:,.0f} messages/s")
        console.print(f"bench: notifications_due handing {n:,} notifications to the outbox")
        due = prepare_json(env, "notify_email_due")
        console.print(f"bench: notifications_due: {due['seconds']:.1f} s")
        ours = _ours(env, sink, n, workers, str(database["name"]))
    console.print(
        f"bench: ours: {ours['messages_per_s']:,.0f} messages/s, "
        f"{ours['duplicates']} duplicates, outbox {ours['after']['outbox']}"
    )
    if ours["recipients"] != n:
        raise BenchError(f"{ours['recipients']:,} recipients got mail, not {n:,}")
    ratio = ours["messages_per_s"] / plain
    return {
        "description": (
            f"{n:,} due e-mail notifications delivered by {workers} db_worker processes "
            "(workflow engine, batch outbox, one SMTP connection a batch) to an aiosmtpd sink, "
            "against a plain smtplib loop to the same sink; and notifications_due alone handing "
            f"{n:,} notifications to the outbox. Database: {describe_database(database)}."
        ),
        "database": database,
        "setup": {"n": n, "workers": workers, "cpus": os.cpu_count()},
        "endpoints": [],
        "plain": {"messages_per_s": round(plain, 1)},
        "due": {key: value for key, value in due.items() if key != "database"},
        "ours": ours,
        "summary": {
            "plain_messages_per_s": round(plain, 1),
            "plain_messages_per_s_is": "smtplib, one connection, prebuilt messages",
            "ours_messages_per_s": ours["messages_per_s"],
            "ours_messages_per_s_is": f"{n:,} due notifications to {n:,} accepted at the sink",
            "ratio": round(ratio, 3),
            "goal_ratio": GOAL_RATIO,
            "within_goal": ratio >= GOAL_RATIO,
            "sink_duplicates": ours["duplicates"],
            "notifications_due_seconds": due["seconds"],
            "notifications_due_seconds_is": f"{n:,} scheduled notifications into the outbox",
            "notifications_due_per_s": round(n / due["seconds"]) if due["seconds"] else None,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=_n(), help="notifications (default 100,000)")
    parser.add_argument("--workers", type=int, help="db_worker processes (2; 1 on SQLite)")
    args = parser.parse_args()
    os.environ["BENCH_NOTIFY_N"] = str(args.n)
    if args.workers:
        os.environ["BENCH_NOTIFY_WORKERS"] = str(args.workers)
    from run import main

    sys.exit(main(["notify_email"]))
