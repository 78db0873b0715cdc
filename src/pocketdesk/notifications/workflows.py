"""Workflow steps: what each kind means and the check every stored list of steps passes.

A workflow is an ordered list of steps, each a small JSON object:
- `{"type": "send", "channels": ["webpush", "phone", "email"], "fallback_after_minutes": 15}`
  sends on the first channel the customer can get (contact point, consent); when it is not
  delivered or read within the minutes, the next channel is tried. No `channels`: the
  customer's own ranking. `in_app` is a channel too (the bell).
- `{"type": "delay", "minutes": 60}` waits.
- `{"type": "digest", "window_minutes": 30}` folds the customer's later notifications of the same
  workflow into this one until the window closes; one message then lists them.
- `{"type": "throttle", "limit": 3, "period_minutes": 1440}` drops the notification when the
  customer already had `limit` of the workflow's category in the period.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.notifications.models import IN_APP

STEPS_MAX = 20
MINUTES_MAX = 366 * 24 * 60
STEP_CHANNELS = frozenset({*ContactKind.values, IN_APP})
# The default workflow: one send by the customer's ranking, no fallback.
DEFAULT_STEPS: list[dict[str, Any]] = [{"type": "send", "channels": []}]

_FIELDS: dict[str, dict[str, tuple[int, int]]] = {
    "send": {"fallback_after_minutes": (1, MINUTES_MAX)},
    "delay": {"minutes": (1, MINUTES_MAX)},
    "digest": {"window_minutes": (1, 7 * 24 * 60)},
    "throttle": {"limit": (1, 10_000), "period_minutes": (1, MINUTES_MAX)},
}
_REQUIRED: dict[str, frozenset[str]] = {
    "send": frozenset(),
    "delay": frozenset({"minutes"}),
    "digest": frozenset({"window_minutes"}),
    "throttle": frozenset({"limit", "period_minutes"}),
}


def _fail(index: int, message: str) -> ValidationFailed:
    return ValidationFailed(f"Step {index + 1}: {message}", field="steps", code="invalid_steps")


def _step_check(index: int, step: Any) -> dict[str, Any]:
    if not isinstance(step, Mapping) or step.get("type") not in _FIELDS:
        raise _fail(index, f"the type is one of {', '.join(sorted(_FIELDS))}.")
    kind = step["type"]
    allowed = set(_FIELDS[kind]) | {"type"} | ({"channels"} if kind == "send" else set())
    unknown = sorted(set(step) - allowed)
    if unknown:
        raise _fail(index, f"unknown field {unknown[0]!r} for a {kind} step.")
    missing = sorted(_REQUIRED[kind] - set(step))
    if missing:
        raise _fail(index, f"a {kind} step needs {missing[0]!r}.")
    checked: dict[str, Any] = {"type": kind}
    for name, (low, high) in _FIELDS[kind].items():
        if name not in step:
            continue
        value = step[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(index, f"{name} is a whole number from {low} to {high}.")
        checked[name] = value
    if kind == "send":
        channels = step.get("channels", [])
        if not isinstance(channels, list) or any(c not in STEP_CHANNELS for c in channels):
            raise _fail(index, f"channels are some of {', '.join(sorted(STEP_CHANNELS))}.")
        if len(set(channels)) != len(channels):
            raise _fail(index, "a channel is listed twice.")
        checked["channels"] = list(channels)
    return checked


def workflow_steps_check(steps: Any) -> list[dict[str, Any]]:
    """The steps, normalised, or ValidationFailed (422 `invalid_steps`) saying which is wrong."""
    if not isinstance(steps, list) or not 1 <= len(steps) <= STEPS_MAX:
        raise ValidationFailed(
            f"A workflow is a list of 1 to {STEPS_MAX} steps.", field="steps", code="invalid_steps"
        )
    checked = [_step_check(index, step) for index, step in enumerate(steps)]
    if not any(step["type"] == "send" for step in checked):
        raise ValidationFailed(
            "A workflow needs at least one send step.", field="steps", code="invalid_steps"
        )
    return checked


def step_channels(step: Mapping[str, Any], ranking: Sequence[str]) -> list[str]:
    """The channels a send step tries, in order: its own list, else the customer's ranking
    (else every contact kind) followed by the bell."""
    channels = list(step.get("channels") or [])
    if channels:
        return channels
    return [*(ranking or ContactKind.values), IN_APP]
