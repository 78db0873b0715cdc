"""Task helpers: enqueue after commit, and core housekeeping tasks."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.tasks import Task, task

from pocketdesk.core import clock
from pocketdesk.core.services import idempotency_prune


def enqueue_on_commit(task_: Task[Any, Any], *args: Any, **kwargs: Any) -> None:
    """Enqueue when the surrounding transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: task_.enqueue(*args, **kwargs))


@task()
def idempotency_keys_prune() -> int:
    ttl: timedelta = settings.PD_IDEMPOTENCY_TTL
    return idempotency_prune(older_than=clock.now() - ttl)
