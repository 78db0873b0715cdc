"""Each customer's habits, learned from their messages: the channel they answer best and the
hours they write at, each with a confidence and a why (stored in customers.CustomerHabits).

How it is learned, for one customer, from their messages in time order (notes left out):

* A **contact attempt** is an outbound message on a channel, or a run of them on the same
  channel with no reply between and less than ANSWER_WINDOW apart (a long answer split in
  three, a nudge), timed from its last message. Messages the provider failed to deliver are
  not attempts: the customer never saw them.
* An attempt is **answered** when the customer's next message comes on the same contact kind,
  before the next outbound message and within ANSWER_WINDOW (24 h); the answer time is the gap.
  A reply on another channel, an outbound message on another channel first, or silence past
  the window leave it unanswered. An attempt whose window is still open is not counted yet.
* Per contact kind: attempts (`sent`), `answered`, `answer_rate` and the median answer time.
* **Ranking score**, rate first, then speed: the Wilson lower bound (95 %) of the answer rate,
  in steps of RATE_STEP (so 1 of 1, 0.21, does not beat 9 of 10, 0.60; rates within one step
  count as equal); then the faster median; then the more attempts. Channels answered at least
  once come first in that order, then the contact kinds never tried (in the default order), then
  those tried and never answered (the most ignored last). The preferred channel is the first one
  answered; none answered: no preference and an empty ranking (notifications keep their
  default order).
* **Channel confidence** = n / (n + CHANNEL_PRIOR), n the decided attempts on all channels
  (0 with no preference): 2 attempts → 0.2, 8 → 0.5, 24 → 0.75, 72 → 0.9.
* **Best hours**: the local hours (the customer's time zone, so daylight saving time moves
  nothing) the customer wrote at, counted once per day and hour (a burst of messages is one
  moment), most frequent first. **Hours confidence** = m / (m + HOURS_PRIOR), m the moments.

The work is set-based: one ordered, streamed query per chunk of CHUNK customers, one upsert per
chunk; nothing per customer. `habits_refresh` re-learns only the customers whose messages (or
profile, e.g. a new time zone) changed since their last computation, or whose last attempt's
answer window has closed since."""

import math
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from itertools import groupby
from statistics import median
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as django_gettext
from django.utils.translation import ngettext as django_ngettext

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import CONTACT_KIND
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import LearnedHabits, habits_store_many
from pocketdesk.messaging.models import Outbound

ANSWER_WINDOW = timedelta(hours=24)
RATE_STEP = 0.05
WILSON_Z = 1.96
CHANNEL_PRIOR = 8
HOURS_PRIOR = 10
# Fewer replies (or moments) than this: the why says how little there is to go on.
FEW = 5
TOP_HOURS_IN_WHY = 3
CHUNK = 2_000
STREAM_ROWS = 5_000
# A message stored just before a computation but committed after it is caught by the next one.
RECHECK_OVERLAP = timedelta(minutes=10)
NOT_DELIVERED = (Outbound.Status.FAILED, Outbound.Status.UNDELIVERED)

# Translated when shown (channel_label).
CHANNEL_LABELS: dict[str, str] = {
    ContactKind.PHONE: gettext_noop("SMS"),
    ContactKind.WHATSAPP: gettext_noop("WhatsApp"),
    ContactKind.EMAIL: gettext_noop("email"),
    ContactKind.WEBPUSH: gettext_noop("web push"),
    ContactKind.MESSENGER: gettext_noop("Messenger"),
    ContactKind.INSTAGRAM: gettext_noop("Instagram"),
    ContactKind.SOCIAL: gettext_noop("social"),
}


CONTACT_KINDS = tuple(ContactKind.values)  # the enum rebuilds its values on every access


# gettext costs microseconds a call and the whys of 100,000 customers make a million calls: the
# translations are looked up once per language. Named `_` and `ngettext` so makemessages finds
# the strings.
@lru_cache(maxsize=4096)
def _translated(language: str | None, singular: str, plural: str | None, n: int) -> str:
    if plural is None:
        return django_gettext(singular)
    return django_ngettext(singular, plural, n)


# The language of the run in progress: get_language() itself is slow (a thread-local).
_language: ContextVar[str | None] = ContextVar("habits_language", default=None)


def _(message: str) -> str:
    return _translated(_language.get() or get_language(), message, None, 0)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translated(_language.get() or get_language(), singular, plural, n)


def channel_label(kind: str) -> str:
    """A contact kind in words, for the agent ("SMS", "WhatsApp")."""
    label = CHANNEL_LABELS.get(kind)
    return _(label) if label else kind


def wilson_lower_bound(successes: int, trials: int, z: float = WILSON_Z) -> float:
    """The lower end of the Wilson score interval of a success rate (0 with no trials)."""
    if trials == 0:
        return 0.0
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = rate + z * z / (2 * trials)
    margin = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - margin) / denominator)


def _confidence(n: int, prior: int) -> float:
    return round(n / (n + prior), 3) if n else 0.0


def _minutes_text(minutes: float) -> str:
    if minutes < 1:
        return _("under a minute")
    if minutes < 90:
        count = round(minutes)
        return ngettext("%(n)d minute", "%(n)d minutes", count) % {"n": count}
    hours = round(minutes / 60, 1)
    return _("%(n)s hours") % {"n": f"{hours:g}"}


# --- one customer ---------------------------------------------------------------------------


@dataclass
class _Tally:
    sent: int = 0
    answered: int = 0
    minutes: list[float] = field(default_factory=list)


@dataclass
class _Stream:
    """Walks one customer's messages in time order."""

    zone: zoneinfo.ZoneInfo
    tallies: dict[str, _Tally] = field(default_factory=dict)
    moments: set[tuple[date, int]] = field(default_factory=set)
    pending_kind: str | None = None
    pending_at: datetime | None = None

    def _close(self, answered_at: datetime | None) -> None:
        if self.pending_kind is None or self.pending_at is None:
            return
        tally = self.tallies.setdefault(self.pending_kind, _Tally())
        tally.sent += 1
        if answered_at is not None:
            tally.answered += 1
            tally.minutes.append((answered_at - self.pending_at).total_seconds() / 60)
        self.pending_kind = self.pending_at = None

    def outbound(self, kind: str, at: datetime) -> None:
        if self.pending_at is not None:
            if kind == self.pending_kind and at - self.pending_at < ANSWER_WINDOW:
                self.pending_at = at  # the same attempt goes on
                return
            self._close(None)
        self.pending_kind, self.pending_at = kind, at

    def inbound(self, kind: str, at: datetime) -> None:
        local = at.astimezone(self.zone)
        self.moments.add((local.date(), local.hour))
        if self.pending_at is not None:
            in_time = at - self.pending_at <= ANSWER_WINDOW
            self._close(at if in_time and kind == self.pending_kind else None)

    def finish(self, now: datetime) -> None:
        if self.pending_at is not None and now - self.pending_at > ANSWER_WINDOW:
            self._close(None)


def _channel_stats(tallies: dict[str, _Tally]) -> dict[str, dict[str, Any]]:
    return {
        kind: {
            "sent": tally.sent,
            "answered": tally.answered,
            "answer_rate": round(tally.answered / tally.sent, 3),
            "median_minutes": round(median(tally.minutes), 1) if tally.minutes else None,
        }
        for kind, tally in tallies.items()
        if kind in CONTACT_KINDS and tally.sent
    }


def _ranking(stats: dict[str, dict[str, Any]]) -> list[str]:
    answered = [kind for kind, s in stats.items() if s["answered"]]
    if not answered:
        return []

    def score(kind: str) -> tuple[int, float, int, str]:
        s = stats[kind]
        steps = math.floor(wilson_lower_bound(s["answered"], s["sent"]) / RATE_STEP + 1e-9)
        return (-steps, s["median_minutes"], -s["sent"], kind)

    ignored = sorted(
        (kind for kind in stats if kind not in answered), key=lambda k: (stats[k]["sent"], k)
    )
    untried = [kind for kind in CONTACT_KINDS if kind not in stats]
    return sorted(answered, key=score) + untried + ignored


def _channel_why(stats: dict[str, dict[str, Any]], ranking: Sequence[str]) -> str:
    sent = sum(s["sent"] for s in stats.values())
    replies = sum(s["answered"] for s in stats.values())
    if not sent:
        return _("no messages sent to this customer yet")
    if not replies:
        return ngettext("no reply yet to %(n)d message", "no reply yet to %(n)d messages", sent) % {
            "n": sent
        }
    tried = [kind for kind in ranking if kind in stats]
    best = stats[tried[0]]
    parts = [
        _("answers %(answered)d of %(sent)d %(channel)s messages, typically within %(time)s")
        % {
            "answered": best["answered"],
            "sent": best["sent"],
            "channel": channel_label(tried[0]),
            "time": _minutes_text(best["median_minutes"]),
        }
    ]
    parts += [
        _("%(answered)d of %(sent)d %(channel)s")
        % {"answered": stats[k]["answered"], "sent": stats[k]["sent"], "channel": channel_label(k)}
        for k in tried[1:]
    ]
    why = "; ".join(parts)
    if replies < FEW:
        few = ngettext("only %(n)d reply so far", "only %(n)d replies so far", replies)
        why = f"{few % {'n': replies}}: {why}"
    return why


def _best_hours(moments: Iterable[tuple[date, int]]) -> list[dict[str, int]]:
    counts = Counter(hour for _day, hour in moments)
    return [
        {"hour": hour, "count": count}
        for hour, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def _hours_why(best: Sequence[dict[str, int]], moments: int, zone_name: str) -> str:
    if not moments:
        return _("has not written yet")
    top = ", ".join(_("%(hour)02d:00 (%(count)d×)") % entry for entry in best[:TOP_HOURS_IN_WHY])
    if moments < FEW:
        return ngettext(
            "only %(n)d message time so far: %(top)s, %(zone)s time",
            "only %(n)d message times so far: %(top)s, %(zone)s time",
            moments,
        ) % {"n": moments, "top": top, "zone": zone_name}
    return _("writes most often around %(top)s, %(zone)s time; %(n)d times in all") % {
        "top": top,
        "zone": zone_name,
        "n": moments,
    }


def _learned(customer_id: int, stream: _Stream, zone_name: str) -> LearnedHabits:
    stats = _channel_stats(stream.tallies)
    ranking = _ranking(stats)
    preferred = ranking[0] if ranking else ""
    sent = sum(s["sent"] for s in stats.values())
    best = _best_hours(stream.moments)
    return LearnedHabits(
        customer_id=customer_id,
        preferred_channel=preferred,
        channel_ranking=ranking,
        channel_stats=stats,
        best_hours=best,
        channel_confidence=_confidence(sent, CHANNEL_PRIOR) if preferred else 0.0,
        hours_confidence=_confidence(len(stream.moments), HOURS_PRIOR),
        channel_why=_channel_why(stats, ranking),
        hours_why=_hours_why(best, len(stream.moments), zone_name),
    )


# --- many customers -------------------------------------------------------------------------


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


_KIND_OF_CHANNEL: dict[str | None, str] = {str(k): str(v) for k, v in CONTACT_KIND.items()}


def _learn_chunk(zones: Mapping[int, str], only: Q, now: datetime) -> int:
    """Learn and store the customers in `zones` (id → time zone); `only` picks their
    messages."""
    if not zones:
        return 0
    rows = (
        Message.objects.filter(
            only,
            created_at__lte=now,
            direction__in=(Message.Direction.INBOUND, Message.Direction.OUTBOUND),
        )
        .order_by("conversation__customer_id", "created_at", "pk")
        .values_list(
            "conversation__customer_id",
            "direction",
            "channel__kind",
            "outbound__status",
            "created_at",
        )
        .iterator(chunk_size=STREAM_ROWS)
    )
    learned: dict[int, LearnedHabits] = {}
    inbound = Message.Direction.INBOUND
    for customer_id, messages in groupby(rows, key=lambda row: row[0]):
        zone_name = zones.get(customer_id)
        if zone_name is None:  # merged away meanwhile
            continue
        stream = _Stream(zone=_zone(zone_name))
        for _customer, direction, channel_kind, status, at in messages:
            # Web chat and the like have no contact kind: they still end an attempt.
            kind = _KIND_OF_CHANNEL.get(channel_kind, channel_kind or "")
            if direction == inbound:
                stream.inbound(kind, at)
            elif status not in NOT_DELIVERED:
                stream.outbound(kind, at)
        stream.finish(now)
        learned[customer_id] = _learned(customer_id, stream, zone_name)
    for customer_id, zone_name in zones.items():
        if customer_id not in learned:
            learned[customer_id] = _learned(customer_id, _Stream(zone=_zone(zone_name)), zone_name)
    return habits_store_many(list(learned.values()), computed_at=now)


def _customers(only: Q) -> QuerySet[Customer]:
    return Customer.objects.filter(only, merged_into__isnull=True).order_by("pk")


def habits_learn(customer_ids: Sequence[int] | None = None, *, now: datetime) -> int:
    """(Re)learn the habits of these customers (None: every customer) from their messages up
    to `now`, and store them; returns how many were stored. Idempotent: the same messages and
    `now` store the same habits. Everyone goes by ranges of ids (no long IN lists)."""
    language = _language.set(get_language())
    try:
        return _learn_all(now) if customer_ids is None else _learn_some(customer_ids, now)
    finally:
        _language.reset(language)


def _learn_all(now: datetime) -> int:
    stored = 0
    after = 0
    while zones := dict(_customers(Q(pk__gt=after)).values_list("pk", "time_zone")[:CHUNK]):
        first, after = min(zones), max(zones)
        between = Q(conversation__customer_id__gte=first, conversation__customer_id__lte=after)
        stored += _learn_chunk(zones, between, now)
    return stored


def _learn_some(customer_ids: Sequence[int], now: datetime) -> int:
    stored = 0
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), CHUNK):
        zones = dict(
            _customers(Q(pk__in=ids[start : start + CHUNK])).values_list("pk", "time_zone")
        )
        stored += _learn_chunk(zones, Q(conversation__customer_id__in=list(zones)), now)
    return stored


def habits_stale_customers(*, now: datetime) -> list[int]:
    """Customers whose habits are out of date: never learned though they have a conversation;
    a message (or a profile change, e.g. their time zone) since the last computation; or their
    last attempt's answer window closed since then. One query over the conversations."""
    computed = F("customer__habits__computed_at")
    stale = (
        Q(customer__habits__isnull=True)
        | Q(last_message_at__gt=computed - RECHECK_OVERLAP)
        | Q(customer__updated_at__gt=computed)
        | Q(last_message_at__gt=computed - ANSWER_WINDOW, last_message_at__lte=now - ANSWER_WINDOW)
    )
    return sorted(
        Conversation.objects.filter(stale, customer__merged_into__isnull=True)
        .order_by()
        .values_list("customer_id", flat=True)
        .distinct()
    )


def habits_refresh(*, now: datetime) -> int:
    """Re-learn the customers whose habits are out of date; returns how many."""
    return habits_learn(habits_stale_customers(now=now), now=now)
