"""Rule conditions: checked once when staff save them, matched on every scan.

A rule matches when all its conditions match (Shlink's model). Condition types:
- `device`: `ios`, `android` or `desktop`;
- `language`: a primary language tag (`fr`) matched against Accept-Language's first choice;
- `time`: `{"start": "08:00", "end": "18:00", "tz": "Europe/Paris"}` (end may be before start:
  the window then crosses midnight);
- `date`: `{"from": "2026-12-01", "until": "2026-12-31"}` in UTC, either end optional;
- `query`: `{"name": "src", "value": "box"}` (value optional: the parameter is present).
"""

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from typing import Any

from pocketdesk.core.errors import ValidationFailed

DEVICES = frozenset({"ios", "android", "desktop"})
LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Facts:
    """What a scan tells us, computed once per request."""

    device: str
    language: str
    query: Mapping[str, str]
    now: datetime  # aware, UTC


def device_of(user_agent: str) -> str:
    if "iPhone" in user_agent or "iPad" in user_agent or "iPod" in user_agent:
        return "ios"
    if "Android" in user_agent:
        return "android"
    return "desktop"


def language_of(accept_language: str) -> str:
    first = accept_language.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first.split("-", 1)[0][:8] if first and first != "*" else ""


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _fail(index: int, message: str) -> ValidationFailed:
    return ValidationFailed(message, field=f"rules[{index}].conditions")


def conditions_check(index: int, conditions: Any) -> list[dict[str, Any]]:
    """Normalised conditions of rule `index`, or 422 naming what is wrong."""
    if not isinstance(conditions, list) or not conditions:
        raise _fail(index, "A rule needs at least one condition.")
    checked: list[dict[str, Any]] = []
    for condition in conditions:
        if not isinstance(condition, dict):
            raise _fail(index, "A condition is an object with a type.")
        kind = condition.get("type")
        if kind == "device":
            if condition.get("value") not in DEVICES:
                raise _fail(index, "device is one of ios, android, desktop.")
            checked.append({"type": "device", "value": condition["value"]})
        elif kind == "language":
            value = str(condition.get("value", "")).lower()
            if not LANGUAGE.match(value):
                raise _fail(index, "language is a primary language tag such as 'fr'.")
            checked.append({"type": "language", "value": value})
        elif kind == "time":
            try:
                start = time.fromisoformat(condition["start"])
                end = time.fromisoformat(condition["end"])
                _zone(condition.get("tz", "UTC"))
            except (KeyError, TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError) as exc:
                raise _fail(index, "time needs start and end (HH:MM) and an IANA tz.") from exc
            if start == end:
                raise _fail(index, "A time window cannot start and end at the same time.")
            checked.append(
                {
                    "type": "time",
                    "start": start.isoformat("minutes"),
                    "end": end.isoformat("minutes"),
                    "tz": condition.get("tz", "UTC"),
                }
            )
        elif kind == "date":
            try:
                start_day = date.fromisoformat(condition["from"]) if condition.get("from") else None
                end_day = date.fromisoformat(condition["until"]) if condition.get("until") else None
            except (TypeError, ValueError) as exc:
                raise _fail(index, "date needs from and/or until as YYYY-MM-DD.") from exc
            if start_day is None and end_day is None:
                raise _fail(index, "date needs from and/or until.")
            if start_day and end_day and end_day < start_day:
                raise _fail(index, "A date range must end after it starts.")
            checked.append(
                {
                    "type": "date",
                    "from": start_day.isoformat() if start_day else None,
                    "until": end_day.isoformat() if end_day else None,
                }
            )
        elif kind == "query":
            name = str(condition.get("name", ""))
            if not name or len(name) > 64:
                raise _fail(index, "query needs a parameter name.")
            wanted = condition.get("value")
            checked.append(
                {"type": "query", "name": name, "value": None if wanted is None else str(wanted)}
            )
        else:
            raise _fail(index, f"Unknown condition type {kind!r}.")
    return checked


def _matches(condition: Mapping[str, Any], facts: Facts) -> bool:
    kind = condition["type"]
    if kind == "device":
        return facts.device == condition["value"]
    if kind == "language":
        return facts.language == condition["value"]
    if kind == "query":
        if condition["name"] not in facts.query:
            return False
        return condition["value"] is None or facts.query[condition["name"]] == condition["value"]
    if kind == "date":
        today = facts.now.date()
        after = condition["from"] is None or today >= date.fromisoformat(condition["from"])
        before = condition["until"] is None or today <= date.fromisoformat(condition["until"])
        return after and before
    if kind == "time":
        local = facts.now.astimezone(_zone(condition["tz"])).time()
        start, end = time.fromisoformat(condition["start"]), time.fromisoformat(condition["end"])
        return start <= local < end if start < end else (local >= start or local < end)
    return False


def target_for(
    rules: Sequence[tuple[list[dict[str, Any]], str]], fallback: str, facts: Facts
) -> str:
    """The target of the first rule whose conditions all match, else the fallback."""
    for conditions, target in rules:
        if all(_matches(condition, facts) for condition in conditions):
            return target
    return fallback
