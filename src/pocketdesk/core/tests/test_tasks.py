"""Background tasks: enqueued only after commit, run by the real database worker."""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from pocketdesk.core import clock
from pocketdesk.core.models import IdempotencyKey
from pocketdesk.core.tasks import enqueue_on_commit, idempotency_keys_prune

RQ_TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_waits_for_commit_then_the_worker_runs_it(make_user):
    # given an expired and a fresh idempotency key
    user = make_user("agent")
    now = clock.now()
    IdempotencyKey.objects.create(
        user=user, key="old", fingerprint="x", created_at=now - timedelta(days=2)
    )
    IdempotencyKey.objects.create(user=user, key="new", fingerprint="y", created_at=now)

    # when the prune task is enqueued inside a transaction
    with transaction.atomic():
        enqueue_on_commit(idempotency_keys_prune)
        assert DBTaskResult.objects.count() == 0  # nothing before commit
    assert DBTaskResult.objects.count() == 1

    # and the worker processes the queue
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)

    # then the task ran once and pruned only the expired key
    result = DBTaskResult.objects.get()
    assert result.status == "SUCCESSFUL"
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_rollback_sends_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(idempotency_keys_prune)
        raise RuntimeError("rolled back")
    assert DBTaskResult.objects.count() == 0


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis task queue needs REDIS_URL")
@pytest.mark.django_db(transaction=True)
def test_redis_queue_runs_tasks_through_rq(make_user):
    import django_rq

    # given the RQ backend, an empty queue, and an expired idempotency key
    user = make_user("agent")
    IdempotencyKey.objects.create(
        user=user, key="old", fingerprint="x", created_at=clock.now() - timedelta(days=2)
    )
    with override_settings(TASKS=RQ_TASKS):
        queue = django_rq.get_queue("default")
        queue.empty()

        # when the task is enqueued after commit and an RQ worker drains the queue
        with transaction.atomic():
            enqueue_on_commit(idempotency_keys_prune)
            assert queue.count == 0
        assert queue.count == 1
        call_command(
            "rqworker",
            "default",
            "--burst",
            "--job-class",
            "django_tasks_rq.Job",
            "--worker-class",
            "rq.worker.SimpleWorker",
        )

        # then it ran, in Redis's queue and not the database's
        assert queue.count == 0
    assert not IdempotencyKey.objects.exists()
    assert DBTaskResult.objects.count() == 0
