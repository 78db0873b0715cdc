"""Core writes: audit events and the idempotency-key lifecycle."""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction

from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict
from pocketdesk.core.models import AuditEvent, IdempotencyKey


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event; `actor` is the acting user or None for the system."""
    target_id = getattr(target, "public_id", None) or str(target.pk)
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=target_id,
        data=data or {},
        at=clock.now(),
    )


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes


def idempotency_begin(*, user_id: int, key: str, fingerprint: str) -> StoredResponse | None:
    """Claim `key` for this request, or return the response stored for it.

    Raises Conflict when the key was used with another request, or is still running.
    """
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                user_id=user_id, key=key, fingerprint=fingerprint, created_at=clock.now()
            )
            return None
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.get(user_id=user_id, key=key)
    if existing.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
        )
    if existing.state != IdempotencyKey.State.DONE or existing.status_code is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed; retry later.",
            code="idempotency_key_in_use",
        )
    return StoredResponse(existing.status_code, existing.content_type, bytes(existing.body))


def idempotency_finish(*, user_id: int, key: str, response: StoredResponse | None) -> None:
    """Store the response for replays, or release the key (None) so the client may retry."""
    keys = IdempotencyKey.objects.filter(user_id=user_id, key=key)
    if response is None:
        keys.delete()
        return
    keys.update(
        state=IdempotencyKey.State.DONE,
        status_code=response.status_code,
        content_type=response.content_type,
        body=response.body,
    )


def idempotency_prune(*, older_than: Any) -> int:
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=older_than).delete()
    return deleted
