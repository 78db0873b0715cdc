"""Customers' reminders: on an RFC 5545 recurrence in the customer's own time zone, every N
units of a reported meter, or both; the next run is stored and a periodic sweep fires what is due.

Time zones and daylight saving: the recurrence runs on the customer's wall clock. DTSTART is
`starts_at` seen in the customer's zone, so "every 6 months at 09:00" stays at 09:00 local in
summer and in winter (the UTC instant moves by the DST offset). A wall time that does not exist
on the day the clocks go forward (01:30 in London on the last Sunday of March) fires at the
instant it would have had before the change (02:30 summer time); a wall time that happens twice
when they go back fires the first time only. `next_run_at` is stored in UTC and recomputed from
the rule each time the reminder fires or is changed; if the customer later moves to another
zone, the instant of `starts_at` is kept and the rule runs on the new zone's wall clock.
"""

import json
import logging
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, Final

from babel import UnknownLocaleError
from babel.dates import format_date
from dateutil.rrule import rrule as RRule  # noqa: N812 - the class is lower-case upstream
from dateutil.rrule import rrulestr
from django.db import transaction

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import DomainError, PermissionDenied, ValidationFailed
from pocketdesk.customers.models import Customer
from pocketdesk.notifications.event_types import BROADCAST, EVENT_TYPES
from pocketdesk.notifications.models import Reminder
from pocketdesk.notifications.services import events

logger = logging.getLogger(__name__)

FIRE_BATCH = 500
TITLE_MAX = 200
RRULE_MAX = 500
UNIT_MAX = 20
PAYLOAD_MAX_BYTES = 4_000
# PositiveIntegerField is a 32-bit integer on PostgreSQL.
METER_MAX = 2_000_000_000
REMINDERS_PER_CUSTOMER = 50
# Far-off starts would make every next-run computation walk decades of occurrences.
STARTS_WITHIN = timedelta(days=366 * 10)
# A reading may come from a phone whose clock is a little ahead.
READING_CLOCK_SKEW = timedelta(minutes=5)

FREQUENCIES: Final = frozenset({"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY"})
INTERVAL_MAX = 1_000
# Finer than monthly, day-of-month, day-of-year, week-number and set-position parts can make a
# rule that never occurs, and proving that walks every day or hour up to the year 9999
# (seconds to minutes of CPU); with these parts only, an impossible rule is found at once.
FINE_FREQUENCY_PARTS: Final = frozenset(
    [
        *("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST"),
        *("BYDAY", "BYMONTH", "BYHOUR", "BYMINUTE", "BYSECOND"),
    ]
)


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET


# --- checks ----------------------------------------------------------------------------------


def customer_zone(customer: Customer) -> zoneinfo.ZoneInfo:
    """The customer's time zone; UTC when it is missing or unknown."""
    try:
        return zoneinfo.ZoneInfo(customer.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _may_manage(actor: User, customer: Customer) -> None:
    if actor.role == Role.CUSTOMER and customer.user_id == actor.pk:
        return
    if actor.role in STAFF_ROLES:
        return
    raise PermissionDenied("You cannot change this customer's reminders.")


def _invalid_rrule(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"The RRULE is not valid: {reason}", field="rrule", code="invalid_rrule"
    )


def rrule_normalize(text: str) -> str:
    """The rule without an "RRULE:" prefix, in upper case; one rule and nothing else."""
    if not isinstance(text, str):
        raise _invalid_rrule("it must be a string.")
    value = text.strip()
    if value[:6].upper() == "RRULE:":
        value = value[6:].strip()
    if len(value) > RRULE_MAX:
        raise _invalid_rrule(f"it is longer than {RRULE_MAX} characters.")
    if "\n" in value or "\r" in value or ":" in value:
        raise _invalid_rrule(
            "give one RRULE only (DTSTART comes from starts_at; EXDATE and RDATE are not used)."
        )
    return value.upper()


def _rule_parts(value: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in value.split(";"):
        name, _, part = item.partition("=")
        if name in parts:
            raise _invalid_rrule(f"{name} is given twice.")
        parts[name] = part
    return parts


def _rule_parse(value: str, dtstart: datetime) -> RRule:
    """Parse with python-dateutil, then apply our limits (at most hourly, bounded work)."""
    try:
        rule = rrulestr(value, dtstart=dtstart)
    # A third-party parser on customer input: whatever it raises is the customer's mistake.
    except Exception as error:
        raise _invalid_rrule(str(error) or type(error).__name__) from error
    if not isinstance(rule, RRule):  # pragma: no cover - one line without ":" is one rule
        raise _invalid_rrule("give one RRULE only.")
    parts = _rule_parts(value)
    frequency = parts.get("FREQ", "")
    if frequency in {"MINUTELY", "SECONDLY"}:
        raise _invalid_rrule("reminders fire at most once an hour.")
    if frequency not in FREQUENCIES:
        raise _invalid_rrule("FREQ is YEARLY, MONTHLY, WEEKLY, DAILY or HOURLY.")
    # dateutil loops for ever on INTERVAL=0 and goes backwards on a negative one.
    interval = int(parts.get("INTERVAL", "1"))
    if not 1 <= interval <= INTERVAL_MAX:
        raise _invalid_rrule(f"INTERVAL is 1 to {INTERVAL_MAX}.")
    # Two more shapes that can never occur and take seconds to prove it: hours that land on
    # other days each time (every 7 hours, only on Tuesdays at 09:00), and every 7th day on a
    # weekday it never lands on.
    if frequency == "HOURLY" and 24 % interval:
        raise _invalid_rrule("with FREQ=HOURLY, INTERVAL divides 24; use FREQ=DAILY for more.")
    if frequency == "DAILY" and "BYDAY" in parts and interval % 7 == 0:
        raise _invalid_rrule("every 7th day with BYDAY: use FREQ=WEEKLY.")
    for name in ("BYMINUTE", "BYSECOND"):
        if "," in parts.get(name, ""):
            raise _invalid_rrule(f"reminders fire at most once an hour ({name} has one value).")
    if frequency not in {"MONTHLY", "YEARLY"}:
        extra = sorted(set(parts) - FINE_FREQUENCY_PARTS)
        if extra:
            raise _invalid_rrule(
                f"with FREQ={frequency}, {', '.join(extra)} is not supported; "
                "use FREQ=MONTHLY or YEARLY for days of the month or year."
            )
    return rule


def _starts_local(starts_at: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """A naive start is the customer's wall-clock time; an aware one is an instant."""
    if starts_at.tzinfo is None:
        return starts_at.replace(tzinfo=zone, microsecond=0)
    return starts_at.astimezone(zone).replace(microsecond=0)


def _rule_next(rule: RRule, *, after: datetime, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The first occurrence strictly after `after` (an instant), in UTC.

    dateutil compares datetimes of one zone by wall clock, so around a DST change an occurrence
    later on the wall clock can be earlier in UTC (or the same instant as the one before it);
    those are skipped, which is also why a reminder cannot fire twice at one instant."""
    for occurrence in rule.xafter(after.astimezone(zone), count=4, inc=False):
        moment = occurrence.astimezone(UTC)
        if moment > after:
            return moment
    return None


def _dtstart_near(
    value: str, *, starts_at: datetime, zone: zoneinfo.ZoneInfo, after: datetime
) -> datetime:
    """DTSTART for computing the next run after `after`. dateutil walks every occurrence from
    DTSTART (a 10-year-old hourly rule: 87,600 steps, 0.4 s), so an hourly rule without COUNT
    starts from the day before `after` at the same wall time: its INTERVAL divides 24, so each
    day has the same hours and the occurrences from there on are the same."""
    dtstart = _starts_local(starts_at, zone)
    parts = _rule_parts(value)
    if parts.get("FREQ") == "HOURLY" and "COUNT" not in parts:
        days = (after.astimezone(zone).date() - dtstart.date()).days - 1
        if days > 0:
            dtstart = (dtstart.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=zone)
    return dtstart


def _rrule_check(value: str, *, starts_at: datetime, zone: zoneinfo.ZoneInfo) -> str:
    value = rrule_normalize(value)
    now = clock.now()
    rule = _rule_parse(value, _dtstart_near(value, starts_at=starts_at, zone=zone, after=now))
    if _rule_next(rule, after=now, zone=zone) is None:
        raise _invalid_rrule("it has no occurrence after now.")
    return value


def _title_check(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValidationFailed("Give the reminder a title.", field="title", code="invalid_title")
    title = " ".join(title.split())
    if len(title) > TITLE_MAX:
        raise ValidationFailed(
            f"The title is at most {TITLE_MAX} characters.", field="title", code="invalid_title"
        )
    return title


def _meter_value_check(value: Any, field: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= METER_MAX:
        raise ValidationFailed(
            f"{field} is a whole number from {minimum} to {METER_MAX:,}.",
            field=field,
            code="invalid_meter_value",
        )
    return value


def _unit_check(unit: Any) -> str:
    unit = " ".join(unit.split()) if isinstance(unit, str) else None
    if not unit or len(unit) > UNIT_MAX:
        raise ValidationFailed(
            f"Say what the meter counts (km, miles, hours), at most {UNIT_MAX} characters.",
            field="meter_unit",
            code="invalid_meter_unit",
        )
    return unit


# What a customer's own reminder may say: a maintenance reminder naming their product. Other
# types carry the business's words (recalls, flight changes, broadcasts): a customer setting
# one would make us send official-looking text of theirs to any number they add.
CUSTOMER_EVENT_TYPES = frozenset({"maintenance.due"})
CUSTOMER_PAYLOAD_KEYS = frozenset({"product"})
CUSTOMER_PAYLOAD_TEXT_MAX = 100


def _event_type_check(event_type: Any, actor: User) -> str:
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise ValidationFailed(
            f"Unknown event type {event_type!r}.", field="event_type", code="unknown_event_type"
        )
    allowed = CUSTOMER_EVENT_TYPES if actor.role not in STAFF_ROLES else None
    if event_type == BROADCAST or (allowed is not None and event_type not in allowed):
        raise ValidationFailed(
            f"A reminder cannot be a {event_type!r} event.",
            field="event_type",
            code="event_type_not_allowed",
        )
    return event_type


def _payload_check(payload: Any, actor: User) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValidationFailed("The payload is an object.", field="payload", code="invalid_payload")
    try:
        size = len(json.dumps(dict(payload)))
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            "The payload is plain JSON.", field="payload", code="invalid_payload"
        ) from error
    if size > PAYLOAD_MAX_BYTES:
        raise ValidationFailed(
            "The payload is too large.", field="payload", code="payload_too_large"
        )
    if actor.role not in STAFF_ROLES:
        extra = sorted(set(payload) - CUSTOMER_PAYLOAD_KEYS)
        if extra or any(
            not isinstance(value, str) or len(value) > CUSTOMER_PAYLOAD_TEXT_MAX
            for value in payload.values()
        ):
            raise ValidationFailed(
                f"A reminder's payload holds only {', '.join(sorted(CUSTOMER_PAYLOAD_KEYS))} "
                f"(text up to {CUSTOMER_PAYLOAD_TEXT_MAX} characters).",
                field="payload",
                code="invalid_payload",
            )
    return dict(payload)


def _starts_at_check(starts_at: Any, zone: zoneinfo.ZoneInfo) -> datetime:
    now = clock.now()
    if starts_at is None:
        return now.replace(microsecond=0)
    if not isinstance(starts_at, datetime):
        raise ValidationFailed(
            "starts_at is a date and time.", field="starts_at", code="invalid_starts_at"
        )
    try:
        moment = _starts_local(starts_at, zone).astimezone(UTC)
    except OverflowError as error:  # year 1 or 9999 moved across a zone
        raise ValidationFailed(
            "starts_at is within ten years of today.", field="starts_at", code="invalid_starts_at"
        ) from error
    if abs(moment - now) > STARTS_WITHIN:
        raise ValidationFailed(
            "starts_at is within ten years of today.", field="starts_at", code="invalid_starts_at"
        )
    return moment


def _schedule_check(reminder: Reminder) -> None:
    if not reminder.rrule and reminder.meter_every is None:
        raise ValidationFailed(
            "Give a recurrence (rrule), a meter interval (meter_every), or both.",
            field="rrule",
            code="schedule_required",
        )


# --- next run --------------------------------------------------------------------------------


def _meter_crossed(reminder: Reminder) -> bool:
    return (
        reminder.meter_every is not None
        and reminder.meter_reading is not None
        and reminder.meter_base is not None
        and reminder.meter_reading - reminder.meter_base >= reminder.meter_every
    )


def reminder_next_run(reminder: Reminder, *, after: datetime) -> datetime | None:
    """When the reminder is next due: the first occurrence of its rule strictly after `after`,
    or, when the meter has gone `meter_every` past its base, the moment of that reading (which
    may be before `after`: due already) — whichever is first. None: nothing will make it due
    but a meter reading."""
    candidates: list[datetime] = []
    if reminder.rrule:
        zone = customer_zone(reminder.customer)
        dtstart = _dtstart_near(
            reminder.rrule, starts_at=reminder.starts_at, zone=zone, after=after
        )
        rule = _rule_parse(reminder.rrule, dtstart)
        occurrence = _rule_next(rule, after=after, zone=zone)
        if occurrence is not None:
            candidates.append(occurrence)
    if _meter_crossed(reminder):
        candidates.append(reminder.meter_read_at or after)
    return min(candidates, default=None)


# --- reminders -------------------------------------------------------------------------------


def reminder_create(
    *,
    actor: User,
    customer: Customer,
    title: str,
    rrule: str = "",
    starts_at: datetime | None = None,
    meter_unit: str = "",
    meter_every: int | None = None,
    meter_reading: int | None = None,
    event_type: str = "maintenance.due",
    payload: Mapping[str, Any] | None = None,
) -> Reminder:
    """A reminder on a recurrence (`rrule` from `starts_at`; a naive `starts_at` is the
    customer's wall clock), every `meter_every` units of a meter counted from `meter_reading`,
    or both, whichever comes first."""
    _may_manage(actor, customer)
    zone = customer_zone(customer)
    now = clock.now()
    reminder = Reminder(
        customer=customer,
        title=_title_check(title),
        event_type=_event_type_check(event_type, actor),
        payload=_payload_check(payload, actor),
        starts_at=_starts_at_check(starts_at, zone),
        created_at=now,
    )
    if rrule:
        reminder.rrule = _rrule_check(rrule, starts_at=reminder.starts_at, zone=zone)
    if meter_every is not None:
        reminder.meter_every = _meter_value_check(meter_every, "meter_every", minimum=1)
        reminder.meter_unit = _unit_check(meter_unit)
    if meter_reading is not None:
        if reminder.meter_every is None:
            raise ValidationFailed(
                "A meter reading needs meter_every.",
                field="meter_reading",
                code="meter_every_required",
            )
        reminder.meter_reading = _meter_value_check(meter_reading, "meter_reading", minimum=0)
        reminder.meter_base = reminder.meter_reading
        reminder.meter_read_at = now
    _schedule_check(reminder)
    reminder.next_run_at = reminder_next_run(reminder, after=now)
    with transaction.atomic():
        # Lock the customer so two creates at once cannot both pass the limit.
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        if Reminder.objects.filter(customer=customer).count() >= REMINDERS_PER_CUSTOMER:
            raise ValidationFailed(
                f"A customer has at most {REMINDERS_PER_CUSTOMER} reminders.",
                code="too_many_reminders",
            )
        reminder.save()
    logger.info(
        "notifications.reminder.created",
        extra={"reminder": reminder.public_id, "next_run_at": reminder.next_run_at},
    )
    return reminder


def reminder_update(
    *,
    actor: User,
    reminder: Reminder,
    title: str | _Unset = UNSET,
    rrule: str | _Unset = UNSET,
    starts_at: datetime | _Unset | None = UNSET,
    meter_unit: str | _Unset = UNSET,
    meter_every: int | _Unset | None = UNSET,
    event_type: str | _Unset = UNSET,
    payload: Mapping[str, Any] | _Unset | None = UNSET,
    is_active: bool | _Unset = UNSET,
) -> Reminder:
    """Change what was given; `rrule=""` or `meter_every=None` drops that half (one must stay).
    A change to the schedule or `is_active` recomputes the next run from now (occurrences missed
    while inactive do not fire). Meter readings go through `meter_reading_report`."""
    _may_manage(actor, reminder.customer)
    zone = customer_zone(reminder.customer)
    with transaction.atomic():
        locked = Reminder.objects.select_for_update().select_related("customer").get(pk=reminder.pk)
        if not isinstance(title, _Unset):
            locked.title = _title_check(title)
        if not isinstance(event_type, _Unset):
            locked.event_type = _event_type_check(event_type, actor)
        if not isinstance(payload, _Unset):
            locked.payload = _payload_check(payload, actor)
        if not isinstance(starts_at, _Unset):
            locked.starts_at = _starts_at_check(starts_at, zone)
        if not isinstance(rrule, _Unset) or not isinstance(starts_at, _Unset):
            new_rule = locked.rrule if isinstance(rrule, _Unset) else rrule
            locked.rrule = (
                _rrule_check(new_rule, starts_at=locked.starts_at, zone=zone) if new_rule else ""
            )
        if not isinstance(meter_every, _Unset):
            if meter_every is None:
                locked.meter_every = None
                locked.meter_base = locked.meter_reading = locked.meter_read_at = None
            else:
                locked.meter_every = _meter_value_check(meter_every, "meter_every", minimum=1)
                if locked.meter_base is None:
                    locked.meter_base = locked.meter_reading
        if not isinstance(meter_unit, _Unset):
            locked.meter_unit = meter_unit
        locked.meter_unit = _unit_check(locked.meter_unit) if locked.meter_every else ""
        if not isinstance(is_active, _Unset):
            if not isinstance(is_active, bool):
                raise ValidationFailed(
                    "is_active is true or false.", field="is_active", code="invalid_is_active"
                )
            locked.is_active = is_active
        _schedule_check(locked)
        schedule = (rrule, starts_at, meter_every, is_active)
        if any(not isinstance(change, _Unset) for change in schedule):
            locked.next_run_at = reminder_next_run(locked, after=clock.now())
        # else: a new title or payload keeps a run that is due but not yet fired
        locked.save()
    return locked


def reminder_delete(*, actor: User, reminder: Reminder) -> None:
    """Remove the reminder (the events it already fired stay)."""
    _may_manage(actor, reminder.customer)
    with transaction.atomic():
        Reminder.objects.filter(pk=reminder.pk).delete()
    logger.info("notifications.reminder.deleted", extra={"reminder": reminder.public_id})


def meter_reading_report(
    *, actor: User, reminder: Reminder, value: int, at: datetime | None = None
) -> Reminder:
    """Record a meter reading (never lower than the last one). Once the meter has gone
    `meter_every` past its base, the reminder is due now."""
    _may_manage(actor, reminder.customer)
    value = _meter_value_check(value, "value", minimum=0)
    now = clock.now()
    if at is None:
        at = now
    elif not isinstance(at, datetime):
        raise ValidationFailed("at is a date and time.", field="at", code="invalid_reading_time")
    else:
        try:
            at = _starts_local(at, customer_zone(reminder.customer)).astimezone(UTC)
        except OverflowError as error:
            raise ValidationFailed(
                "at is not a usable date.", field="at", code="invalid_reading_time"
            ) from error
        if at > now + READING_CLOCK_SKEW:
            raise ValidationFailed(
                "A reading cannot be from the future.", field="at", code="invalid_reading_time"
            )
    with transaction.atomic():
        locked = Reminder.objects.select_for_update().select_related("customer").get(pk=reminder.pk)
        if locked.meter_every is None:
            raise ValidationFailed(
                "This reminder does not count a meter.", field="value", code="no_meter"
            )
        if locked.meter_reading is not None and value < locked.meter_reading:
            raise ValidationFailed(
                f"The meter read {locked.meter_reading:,} {locked.meter_unit} last time; "
                "a reading cannot go down.",
                field="value",
                code="reading_decreased",
            )
        if locked.meter_base is None:
            locked.meter_base = value
        locked.meter_reading = value
        locked.meter_read_at = at
        if _meter_crossed(locked):
            # Due now, whenever the crossing reading was taken.
            locked.next_run_at = min(locked.next_run_at or now, now)
        locked.save(update_fields=["meter_base", "meter_reading", "meter_read_at", "next_run_at"])
    return locked


# --- firing ----------------------------------------------------------------------------------


def _fired_payload(
    reminder: Reminder, *, by_meter: bool, zone: zoneinfo.ZoneInfo
) -> dict[str, Any]:
    payload = dict(reminder.payload)
    product = payload.get("product") if isinstance(payload.get("product"), str) else None
    payload.update(
        title=reminder.title,
        product=product or reminder.title,
        reminder=reminder.public_id,
        occurrence=reminder.fired_count + 1,
        # The event texts are plain templates: the date is written in the customer's language.
        due="",
        meter="",
    )
    if by_meter:
        payload["meter"] = f"{reminder.meter_reading:,} {reminder.meter_unit}"
    elif reminder.next_run_at is not None:
        payload["due"] = _date_words(reminder.next_run_at.astimezone(zone).date(), reminder)
    return payload


def _date_words(day: date, reminder: Reminder) -> str:
    """ "January 10, 2026" / "10 janvier 2026": the event texts are plain templates, so the date
    is written here, in the customer's language."""
    language = (reminder.customer.language or "en").replace("-", "_")
    try:
        return format_date(day, format="long", locale=language)
    except (UnknownLocaleError, ValueError):
        return format_date(day, format="long", locale="en")


def _reminder_fire(reminder: Reminder, *, now: datetime) -> bool:
    """Make the reminder's event (once per occurrence number) and move the reminder on."""
    zone = customer_zone(reminder.customer)
    _, created = events.event_system_accept(
        type=reminder.event_type,
        source_id=f"reminder:{reminder.public_id}:{reminder.fired_count + 1}",
        customer=reminder.customer,
        payload=_fired_payload(reminder, by_meter=_meter_crossed(reminder), zone=zone),
    )
    reminder.fired_count += 1
    reminder.last_fired_at = now
    if reminder.meter_reading is not None:
        reminder.meter_base = reminder.meter_reading
    reminder.next_run_at = reminder_next_run(reminder, after=now)
    reminder.save(update_fields=["fired_count", "last_fired_at", "meter_base", "next_run_at"])
    return created


def reminders_fire_due(*, limit: int = FIRE_BATCH) -> int:
    """Fire up to `limit` due reminders in one transaction; returns how many events were made.
    Rows another sweep holds are skipped (PostgreSQL), and each firing's event has the source id
    `reminder:<id>:<n>`, so a sweep run twice, or at once, fires each occurrence once."""
    fired = 0
    with transaction.atomic():
        now = clock.now()
        due = list(
            Reminder.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(is_active=True, next_run_at__lte=now)
            .select_related("customer")
            .order_by("next_run_at", "pk")[:limit]
        )
        for reminder in due:
            try:
                with transaction.atomic():
                    fired += _reminder_fire(reminder, now=now)
            except DomainError as error:
                # A rule or event type that no longer holds: stop it rather than retry for ever.
                logger.warning(
                    "notifications.reminder.fire_failed",
                    extra={"reminder": reminder.public_id, "code": error.code},
                )
                Reminder.objects.filter(pk=reminder.pk).update(is_active=False, next_run_at=None)
    if fired:
        logger.info("notifications.reminders.fired", extra={"count": fired})
    return fired
