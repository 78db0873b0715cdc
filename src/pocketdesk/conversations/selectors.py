"""Staff reads of conversations: the inbox (keyset pages), a thread's messages, labels, canned
replies, agents and where a reply will go. Only agents and admins read here; customers read
their own threads through `customer_selectors`."""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Substr

from pocketdesk.accounts.models import STAFF_ROLES, User
from pocketdesk.conversations.models import (
    AgentProfile,
    Callback,
    CallbackOffer,
    CannedReply,
    Conversation,
    Label,
    Message,
)
from pocketdesk.conversations.services import messages as message_services
from pocketdesk.conversations.services.inbox import LOAD_STATUSES, canned_reply_render
from pocketdesk.core import clock
from pocketdesk.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from pocketdesk.customers.models import ContactPoint
from pocketdesk.messaging.adapters.meta import whatsapp_window_closes_at, whatsapp_window_open
from pocketdesk.messaging.models import Channel, ChannelKind
from pocketdesk.messaging.segments import SmsSegments, sms_segments

INBOX_VIEWS = ("mine", "unassigned", "all")
# Most recent activity first, or the worst health first (conversations not scored yet are
# left out of that order for the few seconds until the health sweep scores them).
INBOX_SORTS = ("recent", "health")
PREVIEW_CHARS = 120
PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
SMS_KINDS = frozenset({ChannelKind.TWILIO_SMS})


def _require_staff(actor: User) -> None:
    if not actor.is_support_staff:
        raise PermissionDenied("Only agents and admins read the inbox.")


# --- keyset pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in a list ordered by (time or number, id): the page after it, or before."""

    at: datetime | int
    pk: int
    before: bool = False

    def encode(self) -> str:
        at = f"n{self.at}" if isinstance(self.at, int) else self.at.isoformat()
        raw = f"{at}|{self.pk}|{'b' if self.before else 'a'}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> "Cursor | None":
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            at, pk, side = raw.split("|")
            if side not in {"a", "b"}:
                raise ValueError(raw)
            if at.startswith("n"):
                return cls(int(at[1:]), int(pk), side == "b")
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None:
                raise ValueError(raw)
            return cls(moment, int(pk), side == "b")
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise ValidationFailed(
                "This cursor is not valid.", field="cursor", code="bad_cursor"
            ) from exc


@dataclass(frozen=True)
class Pinned[T]:
    """Rows listed above a keyset list's top page, in their own order (`key`)."""

    rows: QuerySet[Any]
    key: Callable[[T], Any]


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    next: str | None  # cursor of the page after this one (in display order)
    previous: str | None  # cursor of the page before it


def _page_size(size: int | None, default: int) -> int:
    return default if size is None else min(MAX_PAGE_SIZE, max(1, size))


def _keyset_page[M: (Conversation, Message)](
    rows: QuerySet[M],
    *,
    field: str,
    ascending: bool,
    cursor: Cursor | None,
    size: int,
    start_at_end: bool = False,
    ids_first: Callable[[Any], QuerySet[M]] | None = None,
    pinned: Pinned[M] | None = None,
) -> Page[M]:
    """One page of `rows` ordered by (`field`, id), ascending or descending for display.
    Without a cursor the first page is shown, or the last one with `start_at_end`. One query
    whatever the page or the list's length (the extra row tells whether more follow); with
    `ids_first`, the page's ids from `rows`, then the rows `ids_first(ids)` gives. With
    `pinned` (and `ids_first`), the top page also shows those rows above the others, read in
    the same query as the page's rows; `rows` must leave them out."""
    forward = (field, "id") if ascending else (f"-{field}", "-id")
    backward = (f"-{field}", "-id") if ascending else (field, "id")

    def beyond(position: Cursor, later: bool) -> Q:
        op = "gt" if ascending == later else "lt"
        return Q(**{f"{field}__{op}": position.at}) | Q(
            **{field: position.at, f"id__{op}": position.pk}
        )

    def mark(row: M, *, before: bool) -> str:
        return Cursor(getattr(row, field), row.pk, before).encode()

    on_top: list[M] = []

    def take(selected: QuerySet[M], order: tuple[str, str], *, top: bool | None) -> list[M]:
        """`top`: whether this page is the list's top (None: it is if nothing comes before)."""
        if ids_first is None:
            return list(selected.order_by(*order)[: size + 1])
        # The page's ids first, from the table alone: its (field, id) index gives them in
        # order without reading the rest (joined, the planner may sort the whole table; 40 ms
        # at 100,000 conversations on SQLite). Then those rows with their joins.
        ids = list(selected.order_by(*order).values_list("pk", flat=True)[: size + 1])
        wanted = ids_first(ids)
        if pinned is not None and (top if top is not None else len(ids) <= size):
            wanted = wanted | ids_first(pinned.rows.values("pk"))
        found = {row.pk: row for row in wanted}
        if pinned is not None:
            listed = set(ids)
            on_top.extend(sorted((r for r in found.values() if r.pk not in listed), key=pinned.key))
        return [found[pk] for pk in ids if pk in found]

    if (cursor is None and not start_at_end) or (cursor is not None and not cursor.before):
        if cursor is not None:
            rows = rows.filter(beyond(cursor, later=True))
        found = take(rows, forward, top=cursor is None)
        items = found[:size]
        more_after = len(found) > size
        return Page(
            on_top + items,
            mark(items[-1], before=False) if more_after else None,
            mark(items[0], before=True) if cursor is not None and items else None,
        )
    if cursor is not None:
        rows = rows.filter(beyond(cursor, later=False))
    found = take(rows, backward, top=None)
    items = found[:size][::-1]
    more_before = len(found) > size
    return Page(
        on_top + items,
        mark(items[-1], before=False) if cursor is not None and items else None,
        mark(items[0], before=True) if more_before else None,
    )


# --- the inbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilters:
    view: str = "all"
    status: str | None = None
    channel: str | None = None  # a channel kind: twilio_sms, whatsapp, …
    label: str | None = None
    q: str = ""
    sort: str = "recent"

    def check(self) -> "InboxFilters":
        if self.view not in INBOX_VIEWS:
            raise ValidationFailed(
                f"View is one of {', '.join(INBOX_VIEWS)}.", field="view", code="bad_view"
            )
        if self.sort not in INBOX_SORTS:
            raise ValidationFailed(
                f"Sort is one of {', '.join(INBOX_SORTS)}.", field="sort", code="bad_sort"
            )
        if self.status and self.status not in Conversation.Status.values:
            raise ValidationFailed(
                f"Status is one of {', '.join(Conversation.Status.values)}.",
                field="status",
                code="bad_status",
            )
        if self.channel and self.channel not in ChannelKind.values:
            raise ValidationFailed(
                f"Unknown channel kind {self.channel!r}.", field="channel", code="unknown_channel"
            )
        return self


def _with_preview(rows: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The last customer-visible message's start and direction, read in the same query."""
    last = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .exclude(direction=Message.Direction.NOTE)
        .order_by("-created_at", "-id")
    )
    return rows.annotate(
        preview=Subquery(last.annotate(start=Substr("text", 1, PREVIEW_CHARS)).values("start")[:1]),
        preview_direction=Subquery(last.values("direction")[:1]),
        preview_kind=Subquery(last.values("kind")[:1]),
    )


def _conversations(actor: User) -> QuerySet[Conversation]:
    _require_staff(actor)
    return _with_preview(
        Conversation.objects.select_related(
            "customer", "last_channel", "assignee"
        ).prefetch_related(Prefetch("labels", queryset=Label.objects.order_by("name")))
    )


def _filtered(actor: User, filters: InboxFilters) -> QuerySet[Conversation]:
    filters.check()
    rows = _conversations(actor)
    if filters.view == "mine":
        rows = rows.filter(assignee=actor)
    elif filters.view == "unassigned":
        rows = rows.filter(assignee__isnull=True)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.channel:
        rows = rows.filter(last_channel__kind=filters.channel)
    if filters.label:
        rows = rows.filter(labels__name__iexact=filters.label.strip())
    q = filters.q.strip()
    if q:
        contact = ContactPoint.objects.filter(customer=OuterRef("customer"), value__icontains=q)
        rows = rows.filter(
            Q(customer__name__icontains=q)
            | Q(subject__icontains=q)
            | Q(public_id=q.lower())
            | Q(customer__public_id=q.lower())
            | Exists(contact)
        )
    return rows


def conversation_list(
    *,
    actor: User,
    view: str = "all",
    status: str | None = None,
    channel: str | None = None,
    label: str | None = None,
    q: str = "",
    sort: str = "recent",
    cursor: str | None = None,
    page_size: int | None = None,
) -> Page[Conversation]:
    """The inbox, most recent activity first, a page at a time: `view` mine, unassigned or
    all; filters by status, the channel kind the customer last wrote on, label, and `q` (name,
    subject, contact, public id). Conversations with a callback due come first, on the top
    page. `sort` "health" lists the worst health first. A fixed number of queries whatever the
    page size."""
    filters = InboxFilters(view=view, status=status, channel=channel, label=label, q=q, sort=sort)
    rows = _filtered(actor, filters)
    by_health = filters.sort == "health"
    position = Cursor.decode(cursor)
    if position is not None and isinstance(position.at, int) != by_health:
        raise ValidationFailed(
            "This cursor belongs to another sort order.", field="cursor", code="bad_cursor"
        )
    listed = rows.filter(callback_due_at__isnull=True)
    if by_health:
        listed = listed.filter(health_score__isnull=False)
    return _keyset_page(
        listed,
        field="health_score" if by_health else "last_message_at",
        ascending=by_health,
        cursor=position,
        size=_page_size(page_size, PAGE_SIZE),
        # by primary key only: with the filters again, SQLite may scan the filter's index
        ids_first=lambda ids: _conversations(actor).filter(pk__in=ids),
        # A callback whose time has come puts its conversation above the list, earliest first.
        pinned=Pinned(
            rows.filter(callback_due_at__isnull=False).order_by()[:MAX_PAGE_SIZE],
            key=lambda c: (c.callback_due_at, c.pk),
        ),
    )


def conversation_in_view(
    *, actor: User, public_id: str, filters: InboxFilters
) -> Conversation | None:
    """One inbox row, if the conversation still belongs in the filtered list (live refresh)."""
    return _filtered(actor, filters).filter(public_id=public_id).first()


def conversation_get(*, actor: User, public_id: str) -> Conversation:
    """A conversation, for staff; a customer gets NotFound, as for a typo."""
    if not actor.is_support_staff:
        raise NotFound("No such conversation.")
    conversation = _conversations(actor).filter(public_id=public_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


# Badges count up to this many conversations, then show "99+": the work stays bounded however
# much unread history there is (the full count was 13 ms at 45,000 unread on SQLite).
COUNT_CAP = 100


def inbox_counts(*, actor: User) -> dict[str, str]:
    """Unresolved conversations with unread messages, per inbox view, as badge text ("" for
    none, "99+" past the cap). Three small queries on the unread partial index."""
    _require_staff(actor)
    unread = Conversation.objects.filter(unread_count__gt=0).exclude(
        status=Conversation.Status.RESOLVED
    )
    views = {
        "mine": unread.filter(assignee=actor),
        "unassigned": unread.filter(assignee__isnull=True),
        "all": unread,
    }
    counts = {key: rows[:COUNT_CAP].count() for key, rows in views.items()}
    return {
        key: "" if n == 0 else (f"{COUNT_CAP - 1}+" if n >= COUNT_CAP else str(n))
        for key, n in counts.items()
    }


# --- a thread -------------------------------------------------------------------------------


def _messages(conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(conversation=conversation).select_related(
        "author", "channel", "outbound"
    )


def message_list(
    *,
    actor: User,
    conversation: Conversation,
    cursor: str | None = None,
    page_size: int | None = None,
) -> Page[Message]:
    """A thread's messages and notes, oldest to newest. Without a cursor: the newest page;
    `previous` then leads to older messages, `next` to newer ones."""
    _require_staff(actor)
    return _keyset_page(
        _messages(conversation),
        field="created_at",
        ascending=True,
        cursor=Cursor.decode(cursor),
        size=_page_size(page_size, 50),
        start_at_end=True,
    )


def message_get(*, actor: User, conversation: Conversation, public_id: str) -> Message:
    _require_staff(actor)
    message = _messages(conversation).filter(public_id=public_id).first()
    if message is None:
        raise NotFound("No such message in this conversation.")
    return message


# --- labels, canned replies, agents ---------------------------------------------------------


def label_list(*, actor: User) -> list[Label]:
    _require_staff(actor)
    return list(Label.objects.order_by("name"))


def canned_reply_list(*, actor: User) -> list[CannedReply]:
    _require_staff(actor)
    return list(CannedReply.objects.order_by("shortcut"))


def agent_list(*, actor: User) -> list[User]:
    """Active agents and admins with `profile` (an unsaved default one if they never set it)
    and `open_count` (their open and pending conversations)."""
    _require_staff(actor)
    load = (
        Conversation.objects.filter(assignee=OuterRef("pk"), status__in=LOAD_STATUSES)
        .order_by()
        .values("assignee")
        .annotate(n=Count("id"))
        .values("n")
    )
    agents: list[User] = list(
        User.objects.filter(role__in=STAFF_ROLES, is_active=True)
        .annotate(open_count=Coalesce(Subquery(load, output_field=IntegerField()), Value(0)))
        .order_by("name", "email")
    )
    profiles = {p.user_id: p for p in AgentProfile.objects.filter(user__in=agents)}
    for agent in agents:
        agent.profile = profiles.get(agent.pk) or AgentProfile(user=agent)  # type: ignore[attr-defined]
    return agents


def agent_get(*, actor: User, public_id: str) -> User:
    _require_staff(actor)
    agent = User.objects.filter(public_id=public_id, role__in=STAFF_ROLES, is_active=True).first()
    if agent is None:
        raise NotFound("No such agent.")
    return agent


def assignee_get(*, actor: User, public_id: str) -> User:
    """Whom to assign: an active agent or admin, or a 422 naming the field."""
    _require_staff(actor)
    agent = User.objects.filter(public_id=public_id, role__in=STAFF_ROLES, is_active=True).first()
    if agent is None:
        raise ValidationFailed("No such agent.", field="assignee", code="unknown_agent")
    return agent


# --- where a reply goes ---------------------------------------------------------------------


def reply_channel_get(*, actor: User, public_id: str) -> Channel:
    """The channel an agent picked for a reply; an unknown id is bad input (422)."""
    _require_staff(actor)
    channel = Channel.objects.filter(public_id=public_id).first()
    if channel is None:
        raise ValidationFailed("No such channel.", field="channel", code="unknown_channel")
    return channel


def reply_channels(*, actor: User, conversation: Conversation) -> list[Channel]:
    """Active channels this customer can be reached on: a contact point of the channel's kind,
    or an app login for web chat."""
    _require_staff(actor)
    kinds = set(
        ContactPoint.objects.filter(customer_id=conversation.customer_id).values_list(
            "kind", flat=True
        )
    )
    usable = [kind for kind, contact in message_services.CONTACT_KIND.items() if contact in kinds]
    if conversation.customer.user_id is not None:
        usable.append(ChannelKind.WEBCHAT)
    return list(Channel.objects.filter(is_active=True, kind__in=usable).order_by("kind", "name"))


@dataclass(frozen=True)
class ReplyWindow:
    """WhatsApp's customer-service window on one channel: free text only while it is open."""

    channel: Channel
    open: bool
    # When it closes (or closed); None when the customer never wrote there in this thread.
    closes_at: datetime | None


def reply_windows(
    *, actor: User, conversation: Conversation, channels: Sequence[Channel | None]
) -> list[ReplyWindow]:
    """The WhatsApp window of each WhatsApp channel among `channels` (others have none), from
    the customer's latest inbound message on that channel in this thread: Meta keeps one window
    per business number. One query. A hint for the console: sending is never refused on it."""
    _require_staff(actor)
    whatsapp = {
        channel.pk: channel
        for channel in channels
        if channel is not None and channel.kind == ChannelKind.WHATSAPP
    }
    if not whatsapp:
        return []
    latest = dict(
        Message.objects.filter(
            conversation=conversation,
            direction=Message.Direction.INBOUND,
            channel_id__in=list(whatsapp),
        )
        .order_by()
        .values("channel_id")
        .annotate(at=Max("created_at"))
        .values_list("channel_id", "at")
    )
    now = clock.now()
    return [
        ReplyWindow(
            channel=channel,
            open=whatsapp_window_open(latest.get(pk), now=now),
            closes_at=whatsapp_window_closes_at(latest.get(pk)),
        )
        for pk, channel in whatsapp.items()
    ]


@dataclass(frozen=True)
class ReplyInfo:
    channel: Channel | None
    segments: SmsSegments | None  # SMS only
    problem: dict[str, str] | None  # why a reply there would be refused: {"code", "detail"}
    window: ReplyWindow | None = None  # WhatsApp only


def reply_info(
    *, actor: User, conversation: Conversation, channel: Channel | None, text: str = ""
) -> ReplyInfo:
    """Before sending: the channel the reply will use (the one picked, else the one the
    customer last wrote on), its SMS segment count, why it would be refused, if it would, and
    on WhatsApp whether the 24-hour window is open."""
    _require_staff(actor)
    channel = channel or conversation.last_channel
    problem = None
    try:
        # messages owns the rules of where a reply may go; asked here without writing.
        message_services.reply_destination(conversation, channel)
    except DomainError as error:
        problem = {"code": error.code, "detail": error.detail}
    segments = (
        sms_segments(text.strip()) if channel is not None and channel.kind in SMS_KINDS else None
    )
    windows = reply_windows(actor=actor, conversation=conversation, channels=[channel])
    return ReplyInfo(channel, segments, problem, windows[0] if windows else None)


def canned_replies_rendered(
    *, actor: User, conversation: Conversation, replies: Sequence[CannedReply] | None = None
) -> list[dict[str, Any]]:
    """Canned replies with their text filled in for this conversation and agent."""
    replies = canned_reply_list(actor=actor) if replies is None else replies
    return [
        {
            "shortcut": reply.shortcut,
            "title": reply.title,
            "text": reply.text,
            "rendered": canned_reply_render(reply=reply, conversation=conversation, agent=actor),
        }
        for reply in replies
    ]


# --- callbacks ------------------------------------------------------------------------------


def callback_list(*, actor: User, conversation: Conversation) -> list[Callback]:
    """A conversation's callbacks, the latest booked first."""
    _require_staff(actor)
    return list(
        Callback.objects.filter(conversation=conversation)
        .select_related("conversation", "agent")
        .order_by("-booked_at", "-id")
    )


def callback_get(*, actor: User, public_id: str) -> Callback:
    _require_staff(actor)
    callback = (
        Callback.objects.select_related("conversation", "customer", "agent")
        .filter(public_id=public_id)
        .first()
    )
    if callback is None:
        raise NotFound("No such callback.")
    return callback


def callback_offer_get(*, actor: User, public_id: str) -> CallbackOffer:
    _require_staff(actor)
    offer = (
        CallbackOffer.objects.select_related("conversation", "customer", "team", "message")
        .filter(public_id=public_id)
        .first()
    )
    if offer is None:
        raise NotFound("No such callback offer.")
    return offer
