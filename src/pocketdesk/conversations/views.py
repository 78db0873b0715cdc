"""The agents' console pages: the live inbox and a conversation's thread with the reply box,
its controls and the customer's 360 panel. Forms work without JavaScript; HTMX and inbox.js
swap partials in place and keep the pages live."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from pocketdesk.accounts.models import STAFF_ROLES, User
from pocketdesk.conversations import selectors
from pocketdesk.conversations.models import AgentProfile, Callback, Conversation, Message
from pocketdesk.conversations.services import health, inbox
from pocketdesk.conversations.services.callback_offers import callback_offer
from pocketdesk.conversations.services.callbacks import callback_cancel, callback_mark_done
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.conversations.services.switch_links import SWITCH_TTL, switch_link_create
from pocketdesk.core import clock
from pocketdesk.core.errors import DomainError, NotFound
from pocketdesk.customers import selectors as customer_selectors
from pocketdesk.messaging.models import ChannelKind
from pocketdesk.web.views import require_role

INBOX_PAGE = 30
THREAD_PAGE = 50
TIMELINE_IN_PANEL = 10
SNOOZE_HOURS = (1, 4, 24, 72, 168)
# The inbox list's filters, as they appear in the query string.
FILTER_PARAMS = ("view", "status", "channel", "label", "q", "sort")
ANY_STATUS = "any"


def _staff(request: HttpRequest) -> User:
    return require_role(request, STAFF_ROLES)


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "web/not_found.html", status=404)


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _posted_text(request: HttpRequest, name: str) -> str:
    # Browsers submit a textarea's line breaks as CRLF; an SMS would pay two characters each.
    return request.POST.get(name, "").replace("\r\n", "\n")


# --- the inbox ------------------------------------------------------------------------------


def _filters(params: QueryDict) -> selectors.InboxFilters:
    view = params.get("view") or "mine"
    status = params.get("status") or Conversation.Status.OPEN
    return selectors.InboxFilters(
        view=view if view in selectors.INBOX_VIEWS else "mine",
        status=None if status == ANY_STATUS else status,
        channel=params.get("channel") or None,
        label=params.get("label") or None,
        q=params.get("q", "")[:100],
        sort="health" if params.get("sort") == "health" else "recent",
    )


def _filter_query(params: QueryDict, **override: str) -> str:
    """The filters' query string (without a cursor), for links and live refreshes."""
    kept = QueryDict(mutable=True)
    for name in FILTER_PARAMS:
        value = override.get(name, params.get(name, ""))
        if value:
            kept[name] = value
    return kept.urlencode()


@login_required
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    actor = _staff(request)
    filters = _filters(request.GET)
    error = ""
    try:
        page = selectors.conversation_list(
            actor=actor,
            view=filters.view,
            status=filters.status,
            channel=filters.channel,
            label=filters.label,
            q=filters.q,
            sort=filters.sort,
            cursor=request.GET.get("cursor"),
            page_size=INBOX_PAGE,
        )
    except DomainError as exc:
        page, error = selectors.Page([], None, None), exc.detail
    query = _filter_query(request.GET)
    context: dict[str, Any] = {
        "page": page,
        "filters": filters,
        "status_value": request.GET.get("status") or Conversation.Status.OPEN,
        "query": query,
        "error": error,
    }
    status = 422 if error else 200
    if _htmx(request) and request.GET.get("partial") == "list":
        return render(
            request, "conversations/console/inbox.html#inbox-list", context, status=status
        )
    profile = AgentProfile.objects.filter(user=actor).first() or AgentProfile(user=actor)
    context.update(
        {
            "counts": selectors.inbox_counts(actor=actor),
            "tabs": [
                ("mine", _("Mine"), _filter_query(request.GET, view="mine")),
                ("unassigned", _("Unassigned"), _filter_query(request.GET, view="unassigned")),
                ("all", _("All"), _filter_query(request.GET, view="all")),
            ],
            "statuses": [*Conversation.Status.choices, (ANY_STATUS, _("Any status"))],
            "channel_kinds": ChannelKind.choices,
            "labels": selectors.label_list(actor=actor),
            "profile": profile,
        }
    )
    return render(request, "conversations/console/inbox.html", context, status=status)


@login_required
@require_GET
def inbox_row(request: HttpRequest, public_id: str) -> HttpResponse:
    """One row as the list's filters show it now; empty when it no longer belongs there."""
    actor = _staff(request)
    try:
        conversation = selectors.conversation_in_view(
            actor=actor, public_id=public_id, filters=_filters(request.GET)
        )
    except DomainError:
        conversation = None
    if conversation is None:
        return HttpResponse("")
    return render(request, "conversations/console/inbox.html#inbox-row", {"c": conversation})


@login_required
@require_POST
def inbox_availability(request: HttpRequest) -> HttpResponse:
    actor = _staff(request)
    inbox.agent_profile_set(
        actor=actor, agent=actor, available=request.POST.get("available") == "on"
    )
    return redirect(f"{reverse('conversations:inbox')}?{_filter_query(request.POST)}")


# --- a thread -------------------------------------------------------------------------------


def _conversation(actor: User, public_id: str) -> Conversation:
    return selectors.conversation_get(actor=actor, public_id=public_id)


def _controls_context(actor: User, conversation: Conversation, error: str = "") -> dict[str, Any]:
    return {
        "conversation": conversation,
        "agents": selectors.agent_list(actor=actor),
        "statuses": Conversation.Status.choices,
        "priorities": Conversation.Priority.choices,
        "snooze_hours": SNOOZE_HOURS,
        "all_labels": selectors.label_list(actor=actor),
        "controls_error": error,
    }


def _thread_page(
    request: HttpRequest,
    actor: User,
    conversation: Conversation,
    *,
    reply_error: str = "",
    note_error: str = "",
    controls_error: str = "",
    suggest_error: str = "",
    status: int = 200,
) -> HttpResponse:
    page = selectors.message_list(
        actor=actor,
        conversation=conversation,
        cursor=request.GET.get("cursor"),
        page_size=THREAD_PAGE,
    )
    customer = customer_selectors.customer_360(
        actor=actor, public_id=conversation.customer.public_id
    )
    channels = selectors.reply_channels(actor=actor, conversation=conversation)
    if conversation.health_stale or conversation.health_at is None:
        health.conversation_health_store(conversation)
    context = {
        **_controls_context(actor, conversation, controls_error),
        "page": page,
        "customer": customer,
        "timeline": customer.recent_timeline[:TIMELINE_IN_PANEL],  # type: ignore[attr-defined]
        "channels": channels,
        # WhatsApp's 24-hour window, per WhatsApp channel the picker offers; the one the reply
        # goes to by default is shown (inbox.js follows the picker).
        "windows": selectors.reply_windows(
            actor=actor, conversation=conversation, channels=[conversation.last_channel, *channels]
        ),
        "canned": selectors.canned_replies_rendered(actor=actor, conversation=conversation),
        "reply_error": reply_error,
        "reply_text": request.POST.get("text", "") if reply_error else "",
        "note_error": note_error,
        "suggest_error": suggest_error,
        "callbacks": selectors.callback_list(actor=actor, conversation=conversation),
        "callback_kinds": Callback.Kind.choices,
    }
    return render(request, "conversations/console/thread.html", context, status=status)


@login_required
@require_GET
def thread_page(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = _staff(request)
    try:
        conversation = _conversation(actor, public_id)
    except NotFound:
        return _not_found(request)
    try:
        response = _thread_page(request, actor, conversation)
    except DomainError as error:  # a bad cursor
        return render(request, "web/not_found.html", {"message": error.detail}, status=422)
    # Opening the thread is reading it.
    inbox.conversation_mark_read(actor=actor, conversation=conversation)
    return response


@login_required
@require_GET
def thread_message(request: HttpRequest, public_id: str, message_id: str) -> HttpResponse:
    """One message as the thread shows it (appended, or re-drawn on a receipt). A customer's
    WhatsApp message reopens that channel's 24-hour window: its notice comes along, swapped
    out of band."""
    actor = _staff(request)
    try:
        conversation = _conversation(actor, public_id)
        message = selectors.message_get(
            actor=actor, conversation=conversation, public_id=message_id
        )
    except NotFound:
        return HttpResponse("", status=404)
    context = {"m": message, "conversation": conversation}
    html = render_to_string("conversations/console/thread.html#message", context, request)
    if message.direction == Message.Direction.INBOUND:
        windows = selectors.reply_windows(
            actor=actor, conversation=conversation, channels=[message.channel]
        )
        for window in windows:
            html += render_to_string(
                "conversations/console/thread.html#reply-window",
                {"w": window, "conversation": conversation, "oob": True},
                request,
            )
    return HttpResponse(html)


@login_required
@require_GET
def thread_controls(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = _staff(request)
    try:
        conversation = _conversation(actor, public_id)
    except NotFound:
        return HttpResponse("", status=404)
    return render(
        request,
        "conversations/console/thread.html#controls",
        _controls_context(actor, conversation),
    )


def _post_to_thread(
    request: HttpRequest, public_id: str, write: Callable[[User, Conversation], Message], slot: str
) -> HttpResponse:
    """A reply, a note or a suggestion from the thread page: the new message as a partial
    (htmx) or the page again; a refusal shown in the form's error `slot` (reply-error,
    note-error, suggest-error)."""
    actor = _staff(request)
    try:
        conversation = _conversation(actor, public_id)
    except NotFound:
        return _not_found(request)
    try:
        message = write(actor, conversation)
    except DomainError as error:
        key = slot.replace("-", "_")
        if _htmx(request):
            response = render(
                request,
                f"conversations/console/thread.html#{slot}",
                {key: error.detail},
                status=422,
            )
            return reswap(retarget(response, f"#{slot}"), "outerHTML")
        return _thread_page(request, actor, conversation, status=422, **{key: error.detail})
    if _htmx(request):
        message = selectors.message_get(
            actor=actor, conversation=conversation, public_id=message.public_id
        )
        context = {"m": message, "conversation": conversation}
        return render(request, "conversations/console/thread.html#message", context)
    return redirect("conversations:thread", public_id=conversation.public_id)


@login_required
@require_POST
def thread_reply(request: HttpRequest, public_id: str) -> HttpResponse:
    def write(actor: User, conversation: Conversation) -> Message:
        channel_id = request.POST.get("channel", "")
        channel = (
            selectors.reply_channel_get(actor=actor, public_id=channel_id) if channel_id else None
        )
        return message_send(
            actor=actor,
            conversation=conversation,
            text=_posted_text(request, "text"),
            channel=channel,
        )

    return _post_to_thread(request, public_id, write, "reply-error")


@login_required
@require_POST
def thread_note(request: HttpRequest, public_id: str) -> HttpResponse:
    def write(actor: User, conversation: Conversation) -> Message:
        return inbox.note_add(
            actor=actor, conversation=conversation, text=_posted_text(request, "note")
        )

    return _post_to_thread(request, public_id, write, "note-error")


def _manage(actor: User, conversation: Conversation, data: QueryDict) -> None:
    """One control's change, named by `action`."""
    action = data.get("action", "")
    if action == "status":
        status = data.get("status", "")
        until = None
        if status == Conversation.Status.SNOOZED:
            raw = str(data.get("snooze_hours", ""))
            hours = int(raw) if raw.isdigit() else 0
            until = clock.now() + timedelta(hours=hours) if hours in SNOOZE_HOURS else None
        inbox.conversation_status_set(
            actor=actor, conversation=conversation, status=status, snoozed_until=until
        )
    elif action == "priority":
        inbox.conversation_priority_set(
            actor=actor, conversation=conversation, priority=data.get("priority", "")
        )
    elif action == "assign":
        assignee_id = data.get("assignee", "")
        assignee = (
            selectors.assignee_get(actor=actor, public_id=assignee_id) if assignee_id else None
        )
        inbox.conversation_assign(actor=actor, conversation=conversation, assignee=assignee)
    elif action == "assign_next":
        inbox.conversation_assign_next(actor=actor, conversation=conversation)
    elif action == "label_add":
        inbox.conversation_label_add(
            actor=actor, conversation=conversation, name=data.get("label", "")
        )
    elif action == "label_remove":
        inbox.conversation_label_remove(
            actor=actor, conversation=conversation, name=data.get("label", "")
        )
    else:
        raise DomainError(_("Unknown action."), code="bad_action")


@login_required
@require_POST
def thread_manage(request: HttpRequest, public_id: str) -> HttpResponse:
    """Status, priority, assignee and labels, one control at a time."""
    actor = _staff(request)
    try:
        conversation = _conversation(actor, public_id)
    except NotFound:
        return _not_found(request)
    error = ""
    try:
        _manage(actor, conversation, request.POST)
    except DomainError as exc:
        error = exc.detail
    if not _htmx(request) and not error:
        return redirect("conversations:thread", public_id=conversation.public_id)
    conversation = _conversation(actor, public_id)
    if _htmx(request):
        return render(
            request,
            "conversations/console/thread.html#controls",
            _controls_context(actor, conversation, error),
            status=422 if error else 200,
        )
    return _thread_page(request, actor, conversation, controls_error=error, status=422)


# --- suggestions: a callback offer, a link to web chat ---------------------------------------


@login_required
@require_POST
def thread_callback_offer(request: HttpRequest, public_id: str) -> HttpResponse:
    """Offer the customer callback (or chat) slots in the current channel."""

    def write(actor: User, conversation: Conversation) -> Message:
        offer = callback_offer(
            actor=actor,
            conversation=conversation,
            kind=request.POST.get("kind") or Callback.Kind.CALLBACK,
        )
        assert offer.message is not None  # noqa: S101 - the offer is sent as it is made
        return offer.message

    return _post_to_thread(request, public_id, write, "suggest-error")


@login_required
@require_POST
def thread_switch_link(request: HttpRequest, public_id: str) -> HttpResponse:
    """Send the customer a link that opens this thread in web chat."""

    def write(actor: User, conversation: Conversation) -> Message:
        link = switch_link_create(actor=actor, conversation=conversation, ttl=SWITCH_TTL)
        assert link.message is not None  # noqa: S101 - the link is sent as it is made
        return link.message

    return _post_to_thread(request, public_id, write, "suggest-error")


@login_required
@require_POST
def thread_callback_change(request: HttpRequest, public_id: str, callback_id: str) -> HttpResponse:
    """Cancel a booked callback, or mark it done."""
    actor = _staff(request)
    try:
        conversation = _conversation(actor, public_id)
        callback = selectors.callback_get(actor=actor, public_id=callback_id)
    except NotFound:
        return _not_found(request)
    if callback.conversation_id != conversation.pk:
        return _not_found(request)
    try:
        if request.POST.get("action") == "done":
            callback_mark_done(actor=actor, callback=callback)
        elif request.POST.get("action") == "cancel":
            callback_cancel(actor=actor, callback=callback)
        else:
            raise DomainError(_("Unknown action."), code="bad_action")
    except DomainError as error:
        return _thread_page(request, actor, conversation, suggest_error=error.detail, status=422)
    return redirect("conversations:thread", public_id=conversation.public_id)
