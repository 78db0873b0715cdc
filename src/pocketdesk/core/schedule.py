"""Periodic tasks: apps register a task and an interval; `pocketdesk scheduler` enqueues each
when it is due (one scheduler per deployment; `serve` starts it). The tasks are idempotent
sweeps, so a missed or doubled tick does no harm."""

from dataclasses import dataclass
from typing import Any

from django.tasks import Task


@dataclass(frozen=True)
class Periodic:
    name: str
    task: Task[Any, Any]
    every_seconds: float


_periodic: dict[str, Periodic] = {}


def periodic_register(name: str, task: Task[Any, Any], *, every_seconds: float) -> None:
    _periodic[name] = Periodic(name, task, every_seconds)


def periodic_tasks() -> list[Periodic]:
    return sorted(_periodic.values(), key=lambda item: item.name)
