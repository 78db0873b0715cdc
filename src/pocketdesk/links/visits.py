"""Scan recording off the request path: visits wait in memory and are written in batches by a
background thread (every PD_VISITS_FLUSH_SECONDS, or at 500 waiting), and once more when the
process exits cleanly, so a graceful restart loses none. Bots are recognised at write time."""

import atexit
import ipaddress
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from crawlerdetect import CrawlerDetect
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F

from pocketdesk.links.models import Link, Visit

logger = logging.getLogger(__name__)

BATCH = 500
# Bounded memory if the database is down for long: the oldest waiting visits are dropped.
MAX_WAITING = 200_000


@dataclass(frozen=True)
class PendingVisit:
    link_id: int | None
    code: str
    at: datetime
    device: str
    language: str
    referrer: str
    ip: str
    user_agent: str
    outcome: str


# Scans come in runs from the same addresses: a small cache spares most of the parsing.
@lru_cache(maxsize=4096)
def ip_truncate(raw: str) -> str:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return ""
    if address.version == 4:
        return str(ipaddress.IPv4Address(int(address) & ~0xFF))
    return str(ipaddress.IPv6Address(int(address) >> 80 << 80))


def _referrer_host(referrer: str) -> str:
    if not referrer:  # most scans come from a camera app: no Referer
        return ""
    try:
        return (urlsplit(referrer).hostname or "")[:255]
    except ValueError:
        return ""


class VisitRecorder:
    def __init__(self) -> None:
        self._waiting: list[PendingVisit] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        self._bots = CrawlerDetect()

    def record(self, visit: PendingVisit) -> None:
        with self._lock:
            self._waiting.append(visit)
            if len(self._waiting) > MAX_WAITING:
                del self._waiting[: len(self._waiting) - MAX_WAITING]
            full = len(self._waiting) >= BATCH
        if settings.PD_VISITS_IN_BACKGROUND:
            self._ensure_thread()
            if full:
                self._wake.set()

    def waiting(self) -> int:
        return len(self._waiting)

    def drain(self) -> list[PendingVisit]:
        """Take the waiting visits without writing them."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        return batch

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="visit-recorder", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(settings.PD_VISITS_FLUSH_SECONDS)
            self._wake.clear()
            try:
                close_old_connections()
                self.flush()
            except Exception:  # keep the thread alive; the visits stay waiting
                logger.exception("links.visits.flush_failed")

    def flush(self) -> int:
        """Write every waiting visit; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                batch, self._waiting = self._waiting, []
            if not batch:
                return 0
            try:
                _write(batch, self._bots)
            except Exception:
                with self._lock:  # put them back in front, for the next try
                    self._waiting[:0] = batch
                raise
            return len(batch)


# The columns _write fills, in the order of its rows.
_COLUMNS = (
    "link",
    "code",
    "at",
    "device",
    "language",
    "referrer_host",
    "ip_prefix",
    "is_bot",
    "outcome",
)


def _insert_sql() -> str:
    quote = connection.ops.quote_name
    column_of = {f.name: f.column for f in Visit._meta.concrete_fields if f.column}
    columns = ", ".join(quote(column_of[name]) for name in _COLUMNS)
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    table = quote(Visit._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - our own names


def _write(batch: list[PendingVisit], bots: CrawlerDetect) -> None:
    """One transaction: the visits, and the human redirects counted on their links.

    The rows go in with one executemany rather than bulk_create: the ORM's per-field value
    preparation cost ~30 µs a visit, on the thread that shares the GIL with the requests.
    Every value is a plain str/int/bool/None except `at`, adapted the way DateTimeField does.
    """
    rows: list[tuple[Any, ...]] = []
    humans: Counter[int] = Counter()
    adapt_at = connection.ops.adapt_datetimefield_value
    for visit in batch:
        is_bot = not visit.user_agent or bool(bots.isCrawler(visit.user_agent))
        if visit.link_id is not None and visit.outcome == "redirect" and not is_bot:
            humans[visit.link_id] += 1
        rows.append(
            (
                visit.link_id,
                visit.code[:64],
                adapt_at(visit.at),
                visit.device,
                visit.language[:12],
                _referrer_host(visit.referrer),
                ip_truncate(visit.ip),
                is_bot,
                visit.outcome,
            )
        )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(_insert_sql(), rows)
        for link_id, count in humans.items():
            Link.objects.filter(pk=link_id).update(visit_count=F("visit_count") + count)


visit_recorder = VisitRecorder()


def install_shutdown_flush() -> None:
    atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    try:
        written = visit_recorder.flush()
    except Exception:
        logger.exception("links.visits.exit_flush_failed")
        return
    if written:
        logger.info("links.visits.flushed_at_exit", extra={"count": written})
