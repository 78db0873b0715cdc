"""The one clock every service reads, so tests and replays can set the time."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

_frozen: list[datetime] = []


def now() -> datetime:
    return _frozen[-1] if _frozen else timezone.now()


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Make `now()` return `moment` inside the block (aware datetimes only)."""
    if timezone.is_naive(moment):
        raise ValueError("frozen_at needs an aware datetime")
    _frozen.append(moment)
    try:
        yield
    finally:
        _frozen.pop()
