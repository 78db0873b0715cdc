"""When a message may go out: the next moment inside a customer's weekly send windows, in their
own time zone (no windows: any time)."""

import zoneinfo
from collections.abc import Iterable
from datetime import datetime, time, timedelta

from pocketdesk.customers.models import SendWindow


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def send_window_next_open(
    windows: Iterable[SendWindow], *, time_zone: str, at: datetime
) -> datetime:
    """`at` when it falls inside a window, else the start of the next window (aware, UTC-able)."""
    by_day: dict[int, tuple[time, time]] = {w.weekday: (w.starts_at, w.ends_at) for w in windows}
    if not by_day:
        return at
    zone = _zone(time_zone)
    local = at.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        window = by_day.get(day.weekday())
        if window is None:
            continue
        starts = datetime.combine(day, window[0], tzinfo=zone)
        ends = datetime.combine(day, window[1], tzinfo=zone)
        if starts <= local < ends:
            return at
        if local < starts:
            return starts
    return at  # unreachable: a weekday with a window recurs within 7 days
