"""The redirect's look-up cache: links compiled once per process, dropped on any edit.

Every process keeps its own dictionary (no round trip on the hot path). An edit bumps a shared
generation number after commit; each look-up compares it cheaply and empties the dictionary
when it moved. The generation lives in Redis when REDIS_URL is set (several machines), else in
the modification time of a file under PD_VAR_DIR (one machine: a stat() call).
"""

import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from pocketdesk.links.models import Link

MISSING = object()
REDIS_KEY = "pocketdesk:links:generation"
# Past this many entries the dictionary starts over (a bound, not an LRU: codes are few).
MAX_ENTRIES = 50_000
# A link with a visit limit is re-read this often: its count grows without any edit.
COUNT_REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class CompiledLink:
    id: int
    code: str
    target_url: str
    rules: tuple[tuple[list[dict[str, Any]], str], ...]
    valid_from: datetime | None
    valid_until: datetime | None
    max_visits: int | None
    visit_count: int
    expired_message: str
    is_active: bool
    fetched_at: float  # time.monotonic() when read


class _Generation:
    def __init__(self) -> None:
        self._redis: Any = None
        self._path = Path(settings.VAR_DIR) / "links.generation"

    def _client(self) -> Any:
        if self._redis is None:
            import redis  # only with REDIS_URL

            self._redis = redis.Redis.from_url(settings.REDIS_URL)
        return self._redis

    def current(self) -> int:
        if settings.REDIS_URL:
            value = self._client().get(REDIS_KEY)
            return int(value or 0)
        try:
            return os.stat(self._path).st_mtime_ns
        except FileNotFoundError:
            return 0

    def bump(self) -> None:
        if settings.REDIS_URL:
            self._client().incr(REDIS_KEY)
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.touch()
        # Two bumps in one clock tick must still differ.
        stamp = time.time_ns()
        os.utime(self._path, ns=(stamp, stamp))


class LinkCache:
    def __init__(self) -> None:
        self._entries: dict[str, CompiledLink | None] = {}
        self._seen = -1
        self._lock = threading.Lock()
        self._generation = _Generation()

    def get(self, code: str) -> CompiledLink | None:
        generation = self._generation.current()
        if generation != self._seen:
            with self._lock:
                self._entries = {}
                self._seen = generation
        hit = self._entries.get(code, MISSING)
        if hit is not MISSING and not (
            isinstance(hit, CompiledLink)
            and hit.max_visits is not None
            and time.monotonic() - hit.fetched_at > COUNT_REFRESH_SECONDS
        ):
            return hit  # type: ignore[return-value]
        compiled = _compile(code)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries = {}
        # Unknown codes are cached too: a scanner hammering a typo must not reach the database.
        self._entries[code] = compiled
        return compiled

    def invalidate_on_commit(self) -> None:
        """Drop every process's cache now (this transaction then reads its own writes) and
        again after commit (so no process keeps what it read before the commit)."""
        self._generation.bump()
        transaction.on_commit(self._generation.bump)


def _compile(code: str) -> CompiledLink | None:
    link = Link.objects.filter(code=code).prefetch_related("rules").first()
    if link is None:
        return None
    return CompiledLink(
        id=link.pk,
        code=link.code,
        target_url=link.target_url,
        rules=tuple((rule.conditions, rule.target_url) for rule in link.rules.all()),
        valid_from=link.valid_from,
        valid_until=link.valid_until,
        max_visits=link.max_visits,
        visit_count=link.visit_count,
        expired_message=link.expired_message,
        is_active=link.is_active,
        fetched_at=time.monotonic(),
    )


link_cache = LinkCache()
