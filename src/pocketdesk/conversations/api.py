"""Staff conversation API under /conversations: the inbox, threads, replies and notes,
assignment, status, labels, canned replies and agents' availability, modality-switch links and
callback offers; and under /callbacks: booking, cancelling and closing callbacks."""

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from ninja import Router, Status

from pocketdesk.accounts.auth import staff_auth
from pocketdesk.accounts.models import User
from pocketdesk.conversations import selectors
from pocketdesk.conversations.models import (
    Callback,
    CallbackOffer,
    CannedReply,
    Conversation,
    Label,
    Message,
    SwitchLink,
)
from pocketdesk.conversations.schemas import (
    AgentOut,
    AgentPatchIn,
    CallbackBookIn,
    CallbackCancelIn,
    CallbackOfferIn,
    CallbackOfferOut,
    CallbackOut,
    CannedReplyIn,
    CannedReplyOut,
    ConversationOut,
    ConversationPageOut,
    ConversationPatchIn,
    HealthOut,
    InboxSort,
    InboxView,
    LabelIn,
    LabelOut,
    MessageOut,
    MessagePageOut,
    NoteIn,
    ReplyIn,
    ReplyInfoOut,
    StatusName,
    SwitchLinkIn,
    SwitchLinkOut,
)
from pocketdesk.conversations.services import (
    callback_offers,
    callbacks,
    health,
    inbox,
    switch_links,
)
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.messaging.models import ChannelKind

router = Router(tags=["conversations"], auth=staff_auth)
callbacks_router = Router(tags=["callbacks"], auth=staff_auth)


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def _page_url(request: HttpRequest, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = request.GET.copy()
    params["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{urlencode(sorted(params.items()))}")


def _page(request: HttpRequest, page: selectors.Page[Any]) -> dict[str, Any]:
    return {
        "results": page.items,
        "next": _page_url(request, page.next),
        "previous": _page_url(request, page.previous),
    }


def _conversation(request: HttpRequest, conversation_id: str) -> Conversation:
    return selectors.conversation_get(actor=_actor(request), public_id=conversation_id)


@router.get("", response=ConversationPageOut, summary="The inbox")
def conversation_list(
    request: HttpRequest,
    view: InboxView = "all",
    status: StatusName | None = None,
    channel: ChannelKind | None = None,
    label: str | None = None,
    q: str = "",
    sort: InboxSort = "recent",
    cursor: str | None = None,
    page_size: int | None = None,
) -> dict[str, Any]:
    """Most recent activity first (`sort=health`: the worst health first). `view`: mine,
    unassigned or all; `channel`: the kind the customer last wrote on; `q`: name, subject,
    contact or id. Follow `next` for more."""
    page = selectors.conversation_list(
        actor=_actor(request),
        view=view,
        status=status,
        channel=channel,
        label=label,
        q=q,
        sort=sort,
        cursor=cursor,
        page_size=page_size,
    )
    return _page(request, page)


@router.get("/labels", response=list[LabelOut])
def label_list(request: HttpRequest) -> list[Label]:
    return selectors.label_list(actor=_actor(request))


@router.post("/labels", response={201: LabelOut})
def label_create(request: HttpRequest, payload: LabelIn) -> Status[Label]:
    label = inbox.label_create(actor=_actor(request), name=payload.name, colour=payload.colour)
    return Status(201, label)


@router.get("/canned-replies", response=list[CannedReplyOut])
def canned_reply_list(request: HttpRequest, conversation: str | None = None) -> list[Any]:
    """With `conversation`: each reply's `rendered` text for that customer and for you."""
    actor = _actor(request)
    if conversation is None:
        return selectors.canned_reply_list(actor=actor)
    target = selectors.conversation_get(actor=actor, public_id=conversation)
    return selectors.canned_replies_rendered(actor=actor, conversation=target)


@router.post("/canned-replies", response={201: CannedReplyOut})
def canned_reply_create(request: HttpRequest, payload: CannedReplyIn) -> Status[CannedReply]:
    """`text` may use {{customer.name}}, {{customer.first_name}}, {{agent.name}},
    {{agent.first_name}} and {{conversation.id}}."""
    reply = inbox.canned_reply_create(
        actor=_actor(request), shortcut=payload.shortcut, text=payload.text, title=payload.title
    )
    return Status(201, reply)


@router.get("/agents", response=list[AgentOut])
def agent_list(request: HttpRequest) -> list[User]:
    return selectors.agent_list(actor=_actor(request))


@router.patch("/agents/{agent_id}", response=AgentOut)
def agent_update(request: HttpRequest, agent_id: str, payload: AgentPatchIn) -> User:
    """Your own availability; an admin sets anyone's, and capacities (`max_open`)."""
    actor = _actor(request)
    agent = selectors.agent_get(actor=actor, public_id=agent_id)
    inbox.agent_profile_set(
        actor=actor, agent=agent, available=payload.available, max_open=payload.max_open
    )
    return next(a for a in selectors.agent_list(actor=actor) if a.pk == agent.pk)


@router.get("/{conversation_id}", response=ConversationOut)
def conversation_get(request: HttpRequest, conversation_id: str) -> Conversation:
    return _conversation(request, conversation_id)


@router.patch("/{conversation_id}", response=ConversationOut)
def conversation_update(
    request: HttpRequest, conversation_id: str, payload: ConversationPatchIn
) -> Conversation:
    """Change status (snoozed needs `snoozed_until`), priority, subject or assignee, all or
    nothing."""
    actor = _actor(request)
    conversation = _conversation(request, conversation_id)
    changes: dict[str, Any] = {
        name: getattr(payload, name)
        for name in payload.model_fields_set
        if getattr(payload, name) is not None or name in {"assignee", "subject"}
    }
    if changes.get("assignee") is not None:
        changes["assignee"] = selectors.assignee_get(actor=actor, public_id=changes["assignee"])
    inbox.conversation_update(actor=actor, conversation=conversation, changes=changes)
    return _conversation(request, conversation_id)


@router.post("/{conversation_id}/assign-next", response=ConversationOut)
def conversation_assign_next(request: HttpRequest, conversation_id: str) -> Conversation:
    """Round robin: the available agent with the fewest open conversations under their
    capacity (409 `no_agent_available` when nobody has room)."""
    inbox.conversation_assign_next(
        actor=_actor(request), conversation=_conversation(request, conversation_id)
    )
    return _conversation(request, conversation_id)


@router.post("/{conversation_id}/read", response={204: None})
def conversation_mark_read(request: HttpRequest, conversation_id: str) -> Status[None]:
    inbox.conversation_mark_read(
        actor=_actor(request), conversation=_conversation(request, conversation_id)
    )
    return Status(204, None)


@router.post("/{conversation_id}/labels", response=list[LabelOut])
def conversation_label_add(
    request: HttpRequest, conversation_id: str, payload: LabelIn
) -> list[Label]:
    """Put a label on the conversation (a new name creates the label). Returns its labels."""
    conversation = _conversation(request, conversation_id)
    inbox.conversation_label_add(
        actor=_actor(request), conversation=conversation, name=payload.name
    )
    return list(conversation.labels.order_by("name"))


@router.delete("/{conversation_id}/labels/{name}", response={204: None})
def conversation_label_remove(
    request: HttpRequest, conversation_id: str, name: str
) -> Status[None]:
    conversation = _conversation(request, conversation_id)
    inbox.conversation_label_remove(actor=_actor(request), conversation=conversation, name=name)
    return Status(204, None)


@router.get("/{conversation_id}/messages", response=MessagePageOut)
def message_list(
    request: HttpRequest,
    conversation_id: str,
    cursor: str | None = None,
    page_size: int | None = None,
) -> dict[str, Any]:
    """Oldest to newest; the first page is the newest one, `previous` leads to older ones."""
    page = selectors.message_list(
        actor=_actor(request),
        conversation=_conversation(request, conversation_id),
        cursor=cursor,
        page_size=page_size,
    )
    return _page(request, page)


@router.post("/{conversation_id}/messages", response={201: MessageOut})
def message_reply(request: HttpRequest, conversation_id: str, payload: ReplyIn) -> Status[Message]:
    """Reply to the customer: queued in the channel's outbox and sent right after; `status`
    follows the provider's receipts."""
    actor = _actor(request)
    conversation = _conversation(request, conversation_id)
    channel = (
        selectors.reply_channel_get(actor=actor, public_id=payload.channel)
        if payload.channel
        else None
    )
    message = message_send(
        actor=actor, conversation=conversation, text=payload.text, channel=channel
    )
    return Status(
        201,
        selectors.message_get(actor=actor, conversation=conversation, public_id=message.public_id),
    )


@router.post("/{conversation_id}/notes", response={201: MessageOut})
def note_add(request: HttpRequest, conversation_id: str, payload: NoteIn) -> Status[Message]:
    """An internal note: shown to agents in the thread, never sent to the customer."""
    actor = _actor(request)
    conversation = _conversation(request, conversation_id)
    note = inbox.note_add(actor=actor, conversation=conversation, text=payload.text)
    return Status(
        201, selectors.message_get(actor=actor, conversation=conversation, public_id=note.public_id)
    )


@router.get("/{conversation_id}/reply-info", response=ReplyInfoOut)
def reply_info(
    request: HttpRequest, conversation_id: str, channel: str | None = None, text: str = ""
) -> selectors.ReplyInfo:
    """Before sending: the channel the reply will use, the SMS segment count of `text`, and
    the reason it would be refused (no contact point, customer opted out, …)."""
    actor = _actor(request)
    conversation = _conversation(request, conversation_id)
    picked = selectors.reply_channel_get(actor=actor, public_id=channel) if channel else None
    return selectors.reply_info(actor=actor, conversation=conversation, channel=picked, text=text)


@router.get("/{conversation_id}/health", response=HealthOut, summary="Interaction health")
def conversation_health(request: HttpRequest, conversation_id: str) -> dict[str, Any]:
    """The conversation scored now (and stored for the inbox): the score, its reasons, and
    what to offer the customer, with the endpoint that does it."""
    conversation = _conversation(request, conversation_id)
    scored = health.conversation_health_store(conversation)
    suggestion = scored.suggestion
    action = {
        "schedule_callback": f"/api/v1/conversations/{conversation.public_id}/callbacks/proposals",
        "switch_modality": f"/api/v1/conversations/{conversation.public_id}/switch-link"
        if suggestion.channel == "webchat"
        else None,
    }.get(suggestion.kind)
    return {
        "score": scored.score,
        "going_badly": scored.going_badly,
        "reasons": [{"code": r.code, "text": r.text, "weight": r.weight} for r in scored.reasons],
        "suggestions": []
        if suggestion.kind == "none"
        else [
            {
                "kind": suggestion.kind,
                "channel": suggestion.channel,
                "why": suggestion.why,
                "action": action,
            }
        ],
        "scored_at": conversation.health_at,
    }


@router.post("/{conversation_id}/switch-link", response={201: SwitchLinkOut})
def switch_link_create(
    request: HttpRequest, conversation_id: str, payload: SwitchLinkIn
) -> Status[SwitchLink]:
    """Send the customer, in the conversation's current channel, a single-use link that signs
    them in to the app and opens this thread in web chat (422 `bad_ttl`,
    `already_in_web_chat`, `no_contact_point`, …)."""
    link = switch_links.switch_link_create(
        actor=_actor(request),
        conversation=_conversation(request, conversation_id),
        # clamped first: a huge number of minutes would overflow timedelta (the service then
        # answers 422 bad_ttl for anything outside 5 minutes to 7 days)
        ttl=timedelta(minutes=max(-1, min(payload.ttl_minutes, 10**6))),
    )
    return Status(201, link)


@router.get("/{conversation_id}/callbacks", response=list[CallbackOut])
def callback_list(request: HttpRequest, conversation_id: str) -> list[Callback]:
    actor = _actor(request)
    return selectors.callback_list(
        actor=actor, conversation=_conversation(request, conversation_id)
    )


@router.post("/{conversation_id}/callbacks/proposals", response={201: CallbackOfferOut})
def callback_offer(
    request: HttpRequest, conversation_id: str, payload: CallbackOfferIn
) -> Status[CallbackOffer]:
    """Propose three slots (the customer's time zone and send windows, the team's business
    hours and holidays, a free seat) in the conversation's current channel, with a link to
    pick one. 409 `callback_booked` or `no_free_slot`; 422 `no_team`, `no_contact_point`."""
    offer = callback_offers.callback_offer(
        actor=_actor(request),
        conversation=_conversation(request, conversation_id),
        kind=payload.kind,
    )
    return Status(201, offer)


@callbacks_router.get("/offers/{offer_id}", response=CallbackOfferOut)
def callback_offer_get(request: HttpRequest, offer_id: str) -> CallbackOffer:
    return selectors.callback_offer_get(actor=_actor(request), public_id=offer_id)


@callbacks_router.post("/offers/{offer_id}/book", response={201: CallbackOut})
def callback_book(request: HttpRequest, offer_id: str, payload: CallbackBookIn) -> Status[Callback]:
    """Book one of the offer's slots for the customer (on the phone with them, say). A slot
    just taken: 409 `slot_taken` with the next `proposals` (the offer now holds them)."""
    actor = _actor(request)
    offer = selectors.callback_offer_get(actor=actor, public_id=offer_id)
    callback = callbacks.callback_book(offer=offer, slot=payload.slot, actor=actor)
    return Status(201, selectors.callback_get(actor=actor, public_id=callback.public_id))


@callbacks_router.get("/{callback_id}", response=CallbackOut)
def callback_get(request: HttpRequest, callback_id: str) -> Callback:
    return selectors.callback_get(actor=_actor(request), public_id=callback_id)


@callbacks_router.post("/{callback_id}/cancel", response=CallbackOut)
def callback_cancel(request: HttpRequest, callback_id: str, payload: CallbackCancelIn) -> Callback:
    """Cancel a booked callback: its seat is free again, the customer is told and an e-mailed
    invitation is withdrawn. 409 `callback_closed` once done or missed."""
    actor = _actor(request)
    callback = selectors.callback_get(actor=actor, public_id=callback_id)
    callbacks.callback_cancel(actor=actor, callback=callback, reason=payload.reason)
    return selectors.callback_get(actor=actor, public_id=callback_id)


@callbacks_router.post("/{callback_id}/done", response=CallbackOut)
def callback_mark_done(request: HttpRequest, callback_id: str) -> Callback:
    """The call (or chat) took place: the conversation leaves the top of the inbox."""
    actor = _actor(request)
    callback = selectors.callback_get(actor=actor, public_id=callback_id)
    callbacks.callback_mark_done(actor=actor, callback=callback)
    return selectors.callback_get(actor=actor, public_id=callback_id)
