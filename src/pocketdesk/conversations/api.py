"""Staff conversation API under /conversations: the inbox, threads, replies and notes,
assignment, status, labels, canned replies and agents' availability."""

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from ninja import Router, Status

from pocketdesk.accounts.auth import staff_auth
from pocketdesk.accounts.models import User
from pocketdesk.conversations import selectors
from pocketdesk.conversations.models import CannedReply, Conversation, Label, Message
from pocketdesk.conversations.schemas import (
    AgentOut,
    AgentPatchIn,
    CannedReplyIn,
    CannedReplyOut,
    ConversationOut,
    ConversationPageOut,
    ConversationPatchIn,
    InboxView,
    LabelIn,
    LabelOut,
    MessageOut,
    MessagePageOut,
    NoteIn,
    ReplyIn,
    ReplyInfoOut,
    StatusName,
)
from pocketdesk.conversations.services import inbox
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.messaging.models import ChannelKind

router = Router(tags=["conversations"], auth=staff_auth)


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
    cursor: str | None = None,
    page_size: int | None = None,
) -> dict[str, Any]:
    """Most recent activity first. `view`: mine, unassigned or all; `channel`: the kind the
    customer last wrote on; `q`: name, subject, contact or id. Follow `next` for older ones."""
    page = selectors.conversation_list(
        actor=_actor(request),
        view=view,
        status=status,
        channel=channel,
        label=label,
        q=q,
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
