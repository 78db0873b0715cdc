"""Run the whole stack: gunicorn (WSGI, HTTP), uvicorn (ASGI, /ws/), the task worker and the
scheduler of periodic tasks."""

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from pocketdesk.core.processes import serve_processes


class Command(BaseCommand):
    help = (
        "Serve HTTP with WSGI workers, websockets with one ASGI process, and run the task worker."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--ws-port", type=int, default=int(os.environ.get("WS_PORT", "0")))
        parser.add_argument(
            "--web-workers",
            type=int,
            default=int(os.environ.get("WEB_WORKERS", str(os.cpu_count() or 2))),
        )
        parser.add_argument("--no-worker", action="store_true", help="do not start the task worker")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        ws_port = options["ws_port"] or port + 1
        env = dict(os.environ)
        env.setdefault("PD_WS_URL", f"ws://{host}:{ws_port}/ws/")
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "pocketdesk.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(options["web_workers"]),
                "--worker-class",
                "sync",
                "--graceful-timeout",
                "20",
                "--log-level",
                "warning",
            ],
            "ws": [
                sys.executable,
                "-m",
                "uvicorn",
                "pocketdesk.asgi:application",
                "--host",
                host,
                "--port",
                str(ws_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
        }
        if not options["no_worker"]:
            worker = ["db_worker", "--interval", "0.5"]
            if settings.PD_TASKS == "redis":
                worker = ["rqworker", "default", "--job-class", "django_tasks_rq.Job"]
            commands["worker"] = [sys.executable, "-m", "pocketdesk", *worker]
            commands["scheduler"] = [sys.executable, "-m", "pocketdesk", "scheduler"]
        commands.update(serve_processes())
        children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}  # noqa: S603
        self.stdout.write(
            f"pocketdesk: http://{host}:{port}/  (websockets {env['PD_WS_URL']}; "
            f"{options['web_workers']} web workers; {', '.join(children)})"
        )
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(
                        f"pocketdesk: {name} exited with {child.returncode}; stopping"
                    )
                    code, stopping = child.returncode or 1, True
                    break
            time.sleep(0.3)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=25)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(code)
