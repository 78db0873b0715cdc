"""Callback slots: teams (business hours in their time zone, public holidays, slot length,
seats) and the free slots a customer can be offered: inside their send windows, the team's
business hours, not on a holiday, a seat free, at least the team's lead time ahead."""

import itertools
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

import holidays
from babel.dates import format_datetime
from django.db import IntegrityError, transaction
from django.db.models import Count

from pocketdesk.accounts.models import Role, User
from pocketdesk.conversations.models import (
    AgentProfile,
    BusinessHours,
    CallbackSeat,
    Conversation,
    Team,
)
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import Customer, CustomerHabits, SendWindow
from pocketdesk.customers.services import time_zone_check

SLOT_COUNT = 3
# Proposals are at least this far apart when the calendar allows (else the next free slots).
SLOT_GAP = timedelta(hours=1)
# How far ahead slots are looked for.
HORIZON_DAYS = 14
# Customers who set no send windows are offered slots in these local hours only.
DEFAULT_CUSTOMER_HOURS = (time(8, 0), time(20, 0))
# With learned contact hours this confident (customers.CustomerHabits), slots at the
# customer's best hours come first, among the free slots of the next few days.
BEST_HOURS_CONFIDENCE = 0.3
BEST_HOURS_TOP = 3
BEST_HOURS_LOOKAHEAD = timedelta(days=3)


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# --- teams ------------------------------------------------------------------------------------


@cache
def _supported_countries() -> Mapping[str, list[str]]:
    return holidays.list_supported_countries()


def holiday_check(country: str, subdivision: str) -> tuple[str, str]:
    country, subdivision = country.strip().upper(), subdivision.strip().upper()
    if not country:
        if subdivision:
            raise ValidationFailed(
                "A subdivision needs a country.", field="holiday_subdivision", code="bad_holidays"
            )
        return "", ""
    supported = _supported_countries()
    if len(country) != 2 or country not in supported:
        raise ValidationFailed(
            f"No public holidays are known for {country!r} (use a two-letter country code).",
            field="holiday_country",
            code="bad_holidays",
        )
    if subdivision and subdivision not in supported[country]:
        raise ValidationFailed(
            f"{country} has no subdivision {subdivision!r}.",
            field="holiday_subdivision",
            code="bad_holidays",
        )
    return country, subdivision


@dataclass(frozen=True)
class Hours:
    weekday: int  # 0 Monday … 6 Sunday
    starts_at: time
    ends_at: time


def _hours_check(hours: Sequence[Hours]) -> list[Hours]:
    for span in hours:
        if not 0 <= span.weekday <= 6:
            raise ValidationFailed("A weekday is 0 (Monday) to 6 (Sunday).", field="hours")
        if span.ends_at <= span.starts_at:
            raise ValidationFailed("Business hours end after they start.", field="hours")
    ordered = sorted(hours, key=lambda s: (s.weekday, s.starts_at))
    for before, after in itertools.pairwise(ordered):
        if before.weekday == after.weekday and after.starts_at < before.ends_at:
            raise ValidationFailed("Business hours of one day must not overlap.", field="hours")
    return ordered


def team_create(
    *,
    actor: User | None,
    name: str,
    time_zone: str = "UTC",
    holiday_country: str = "",
    holiday_subdivision: str = "",
    slot_minutes: int = 15,
    seats: int = 1,
    lead_minutes: int = 60,
    hours: Sequence[Hours] = (),
) -> Team:
    """A team taking callbacks (admins; `actor` None for set-up scripts)."""
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins set up teams.")
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("A team name has 1 to 100 characters.", field="name")
    time_zone_check(time_zone)
    country, subdivision = holiday_check(holiday_country, holiday_subdivision)
    if not 5 <= slot_minutes <= 240:
        raise ValidationFailed("A slot is 5 to 240 minutes long.", field="slot_minutes")
    if not 1 <= seats <= 500:
        raise ValidationFailed("A team has 1 to 500 seats.", field="seats")
    if not 0 <= lead_minutes <= 10_080:
        raise ValidationFailed("The lead time is 0 to 10,080 minutes.", field="lead_minutes")
    spans = _hours_check(hours)
    try:
        with transaction.atomic():
            team = Team.objects.create(
                name=name,
                time_zone=time_zone,
                holiday_country=country,
                holiday_subdivision=subdivision,
                slot_minutes=slot_minutes,
                seats=seats,
                lead_minutes=lead_minutes,
                created_at=clock.now(),
            )
            BusinessHours.objects.bulk_create(
                BusinessHours(
                    team=team, weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at
                )
                for s in spans
            )
            audit_record(actor=actor, action="team.created", target=team, data={"name": name})
    except IntegrityError as exc:
        raise Conflict(f"A team named {name!r} exists.", code="team_exists") from exc
    return team


def business_hours_set(*, actor: User | None, team: Team, hours: Sequence[Hours]) -> Team:
    """Replace the team's business hours."""
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins set business hours.")
    spans = _hours_check(hours)
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        BusinessHours.objects.filter(team=team).delete()
        BusinessHours.objects.bulk_create(
            BusinessHours(team=team, weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in spans
        )
        audit_record(
            actor=actor,
            action="team.hours_set",
            target=team,
            data={"hours": [[s.weekday, f"{s.starts_at}", f"{s.ends_at}"] for s in spans]},
        )
    return team


def agent_team_set(*, actor: User, agent: User, team: Team | None) -> AgentProfile:
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins put agents in teams.")
    if not agent.is_support_staff:
        raise ValidationFailed("Only agents and admins join teams.", code="not_an_agent")
    with transaction.atomic():
        profile, _created = AgentProfile.objects.select_for_update().get_or_create(user=agent)
        profile.team = team
        profile.save(update_fields=["team"])
    return profile


def team_for(conversation: Conversation) -> Team:
    """The team a conversation's callbacks are booked with: its assignee's, else the first."""
    team = None
    if conversation.assignee_id is not None:
        team = Team.objects.filter(agents__user_id=conversation.assignee_id).order_by("pk").first()
    team = team or Team.objects.order_by("pk").first()
    if team is None:
        raise ValidationFailed(
            "No team takes callbacks yet: an admin sets one up with business hours.",
            code="no_team",
        )
    return team


# --- slots ------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: datetime  # aware, UTC
    ends_at: datetime

    @property
    def key(self) -> str:
        return slot_key(self.starts_at)


def slot_key(moment: datetime) -> str:
    """How a slot is named in offers and forms: its start, ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()


def slot_parse(raw: str | datetime) -> datetime:
    if isinstance(raw, datetime):
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(str(raw).strip())
        except ValueError as exc:
            raise ValidationFailed(
                "Pick one of the times offered.", field="slot", code="bad_slot"
            ) from exc
    if moment.tzinfo is None:
        raise ValidationFailed("A slot time needs its time zone.", field="slot", code="bad_slot")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # year 1 or 9999 moved across a zone
        raise ValidationFailed(
            "Pick one of the times offered.", field="slot", code="bad_slot"
        ) from exc


def _holiday_dates(team: Team, first: date, last: date) -> set[date]:
    if not team.holiday_country:
        return set()
    found = holidays.country_holidays(
        team.holiday_country,
        subdiv=team.holiday_subdivision or None,
        years=range(first.year, last.year + 1),
    )
    return {day for day in found if first <= day <= last}


def _team_slots(team: Team, spans: Sequence[BusinessHours], start: datetime) -> Iterator[Slot]:
    """The team's slots from `start` on, in order: its business hours on the slot grid, working
    days only, up to the horizon. Wall-clock times a DST change skips are left out."""
    zone = zone_of(team.time_zone)
    length = timedelta(minutes=team.slot_minutes)
    first = start.astimezone(zone).date()
    closed = _holiday_dates(team, first, first + timedelta(days=HORIZON_DAYS))
    by_day: dict[int, list[BusinessHours]] = {}
    for span in spans:
        by_day.setdefault(span.weekday, []).append(span)
    for offset in range(HORIZON_DAYS + 1):
        day = first + timedelta(days=offset)
        if day in closed:
            continue
        for span in sorted(by_day.get(day.weekday(), []), key=lambda s: s.starts_at):
            wall = datetime.combine(day, span.starts_at)
            limit = datetime.combine(day, span.ends_at)
            while wall + length <= limit:
                local = wall.replace(tzinfo=zone)
                at = local.astimezone(UTC)
                if at.astimezone(zone).replace(tzinfo=None) == wall and at >= start:
                    yield Slot(at, at + length)
                wall += length


def _fits_customer(slot: Slot, windows: Mapping[int, tuple[time, time]], zone: Any) -> bool:
    """The whole slot lies inside the customer's send window of that local day (no windows
    at all: DEFAULT_CUSTOMER_HOURS every day)."""
    starts = slot.starts_at.astimezone(zone)
    ends = slot.ends_at.astimezone(zone)
    span = windows.get(starts.weekday()) if windows else DEFAULT_CUSTOMER_HOURS
    if span is None:
        return False
    same_day = ends.date() == starts.date()
    return span[0] <= starts.time() and same_day and ends.time() <= span[1]


def _taken(team: Team, first: datetime, last: datetime) -> dict[datetime, int]:
    rows = (
        CallbackSeat.objects.filter(team=team, starts_at__gte=first, starts_at__lte=last)
        .values("starts_at")
        .annotate(n=Count("id"))
        .values_list("starts_at", "n")
    )
    return {at.astimezone(UTC): n for at, n in rows}


def _best_hours(customer: Customer) -> frozenset[int]:
    """The local hours the customer answers at most, when we are confident enough."""
    habits = CustomerHabits.objects.filter(customer=customer).first()
    if habits is None or habits.hours_confidence < BEST_HOURS_CONFIDENCE:
        return frozenset()
    return frozenset(int(item["hour"]) for item in habits.best_hours[:BEST_HOURS_TOP])


def slots_free(
    *, team: Team, customer: Customer, count: int = SLOT_COUNT, after: datetime | None = None
) -> list[Slot]:
    """Up to `count` slots for this customer with this team, earliest first, at least
    SLOT_GAP apart when the calendar allows it. When we have learned the hours the customer
    answers at, slots at those hours in the next few days are picked first."""
    earliest = clock.now() + timedelta(minutes=team.lead_minutes)
    if after is not None and after > earliest:
        earliest = after
    earliest = earliest.astimezone(UTC)
    spans = list(BusinessHours.objects.filter(team=team))
    windows = {
        w.weekday: (w.starts_at, w.ends_at) for w in SendWindow.objects.filter(customer=customer)
    }
    zone = zone_of(customer.time_zone)
    taken = _taken(team, earliest, earliest + timedelta(days=HORIZON_DAYS + 1))
    best = _best_hours(customer)
    spread: list[Slot] = []
    free: list[Slot] = []
    for slot in _team_slots(team, spans, earliest):
        if taken.get(slot.starts_at, 0) >= team.seats or not _fits_customer(slot, windows, zone):
            continue
        if best and slot.starts_at - earliest > BEST_HOURS_LOOKAHEAD and len(free) >= count:
            break
        free.append(slot)
        if best:
            continue
        if not spread or slot.starts_at - spread[-1].starts_at >= SLOT_GAP:
            spread.append(slot)
            if len(spread) == count:
                return spread
    if best:
        # The customer's best hours first (earliest of those first), then the others.
        at_best = [s for s in free if s.starts_at.astimezone(zone).hour in best]
        for slot in [*at_best, *(s for s in free if s not in at_best)]:
            if len(spread) == count:
                break
            if all(abs(slot.starts_at - other.starts_at) >= SLOT_GAP for other in spread):
                spread.append(slot)
    # Too few far-apart slots: fill with the nearest free ones.
    chosen = set(spread)
    for slot in free:
        if len(chosen) == count:
            break
        chosen.add(slot)
    return sorted(chosen)


def callback_slots_propose(
    *, conversation: Conversation, count: int = SLOT_COUNT, after: datetime | None = None
) -> list[Slot]:
    """Slots to offer in this conversation: the customer's time zone and send windows, its
    team's business hours and holidays, a seat free, at least the team's lead time ahead."""
    if not 1 <= count <= 10:
        raise ValidationFailed("Propose 1 to 10 slots.", field="count")
    return slots_free(
        team=team_for(conversation), customer=conversation.customer, count=count, after=after
    )


# --- how a slot reads ------------------------------------------------------------------------


def slot_label(moment: datetime, customer: Customer) -> str:
    """A slot's start in the customer's language and time zone: "Tue 3 Mar, 14:00"."""
    language = (customer.language or "en").replace("-", "_")
    try:
        return format_datetime(
            moment, "EEE d MMM, HH:mm", tzinfo=zone_of(customer.time_zone), locale=language
        )
    except (ValueError, LookupError):
        return format_datetime(moment, "EEE d MMM, HH:mm", tzinfo=zone_of(customer.time_zone))
