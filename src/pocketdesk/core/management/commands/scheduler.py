"""Enqueue the registered periodic tasks when they are due (`core.schedule`)."""

import logging
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand

from pocketdesk.core.schedule import periodic_tasks

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Enqueue periodic tasks (sweeps, reminders) when due. Run one per deployment."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="enqueue every task once, exit")

    def handle(self, *args: Any, **options: Any) -> None:
        tasks = periodic_tasks()
        if options["once"]:
            for item in tasks:
                item.task.enqueue()
            return
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        next_run = {item.name: time.monotonic() for item in tasks}
        while not stopping:
            now = time.monotonic()
            for item in tasks:
                if now >= next_run[item.name]:
                    try:
                        item.task.enqueue()
                    except Exception:
                        # The queue's database may be briefly unavailable: try at the next tick.
                        logger.exception("core.scheduler.enqueue_failed", extra={"task": item.name})
                    next_run[item.name] = now + item.every_seconds
            time.sleep(0.5)
