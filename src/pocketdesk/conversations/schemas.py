from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

StatusName = Literal["open", "pending", "snoozed", "resolved"]
PriorityName = Literal["low", "normal", "high", "urgent"]
InboxView = Literal["mine", "unassigned", "all"]
InboxSort = Literal["recent", "health"]


class PersonOut(Schema):
    id: str = Field(alias="public_id")
    name: str


class LabelOut(Schema):
    name: str
    colour: str


class LabelIn(Schema):
    name: str = Field(min_length=1, max_length=50)
    colour: str = Field(default="#5c6670", description="#rrggbb")


class ConversationOut(Schema):
    id: str = Field(alias="public_id")
    customer: PersonOut
    subject: str
    status: str
    priority: str
    snoozed_until: datetime | None
    assignee: PersonOut | None
    channel_kind: str | None = Field(
        description="The channel kind the customer last wrote on (a reply goes there)."
    )
    unread_count: int
    last_message_at: datetime
    preview: str = Field(description="The start of the last message (internal notes aside).")
    preview_direction: str | None
    preview_kind: str | None = Field(
        description="The last message's kind (text, callback_request, …)."
    )
    labels: list[LabelOut]
    callback_due_at: datetime | None = Field(
        description="Set while a booked callback's time has come: such conversations are "
        "listed first."
    )
    health_score: int | None = Field(
        description="Interaction health 0–100, higher is healthier (null until first scored)."
    )
    created_at: datetime

    @staticmethod
    def resolve_snoozed_until(obj: Any) -> datetime | None:
        # A customer writing reopens a snoozed conversation; the old time no longer applies.
        return obj.snoozed_until if obj.status == "snoozed" else None

    @staticmethod
    def resolve_assignee(obj: Any) -> Any:
        user = obj.assignee
        if user is None:
            return None
        return {"public_id": user.public_id, "name": user.name or user.email}

    @staticmethod
    def resolve_channel_kind(obj: Any) -> str | None:
        return obj.last_channel.kind if obj.last_channel is not None else None

    @staticmethod
    def resolve_preview(obj: Any) -> str:
        return getattr(obj, "preview", None) or ""

    @staticmethod
    def resolve_preview_direction(obj: Any) -> str | None:
        return getattr(obj, "preview_direction", None)

    @staticmethod
    def resolve_preview_kind(obj: Any) -> str | None:
        return getattr(obj, "preview_kind", None)

    @staticmethod
    def resolve_labels(obj: Any) -> list[Any]:
        return list(obj.labels.all())


class ConversationPageOut(Schema):
    results: list[ConversationOut]
    next: str | None = Field(description="URL of the next (older) page, or null.")
    previous: str | None = Field(description="URL of the previous (newer) page, or null.")


class ConversationPatchIn(Schema):
    """Only the fields sent change; `assignee` null unassigns."""

    status: StatusName | None = None
    snoozed_until: datetime | None = Field(
        default=None, description="With status snoozed: when it reopens (in the future)."
    )
    priority: PriorityName | None = None
    subject: str | None = Field(default=None, max_length=200)
    assignee: str | None = Field(default=None, description="An agent's user id, or null.")


class MessageOut(Schema):
    id: str = Field(alias="public_id")
    direction: str = Field(description="inbound, outbound or note (internal, never sent)")
    kind: str = Field(
        description="text, image, location, interactive, mention, callback_request (the "
        "customer asked to be called back; `text` holds their note, maybe empty), …"
    )
    text: str
    subject: str
    media: list[dict[str, Any]]
    author: PersonOut | None = Field(description="The agent who wrote a reply or note.")
    channel_kind: str | None
    created_at: datetime
    status: str | None = Field(
        description="Outbound only: queued, sending, sent, delivered, read, undelivered, failed."
    )
    error_code: str | None = Field(description="Outbound only: the provider's error code.")

    @staticmethod
    def resolve_author(obj: Any) -> Any:
        user = obj.author
        if user is None:
            return None
        return {"public_id": user.public_id, "name": user.name or user.email}

    @staticmethod
    def resolve_channel_kind(obj: Any) -> str | None:
        return obj.channel.kind if obj.channel is not None else None

    @staticmethod
    def resolve_status(obj: Any) -> str | None:
        return obj.outbound.status if obj.outbound is not None else None

    @staticmethod
    def resolve_error_code(obj: Any) -> str | None:
        return obj.outbound.error_code if obj.outbound is not None else None


class MessagePageOut(Schema):
    results: list[MessageOut] = Field(description="Oldest to newest.")
    next: str | None = Field(description="URL of the page of newer messages, or null.")
    previous: str | None = Field(description="URL of the page of older messages, or null.")


class ReplyIn(Schema):
    text: str = Field(default="", max_length=10_000)
    channel: str | None = Field(
        default=None,
        description="A channel id (chn_…); by default the channel the customer last wrote on.",
    )


class NoteIn(Schema):
    text: str = Field(max_length=10_000)


class ChannelOut(Schema):
    id: str = Field(alias="public_id")
    kind: str
    name: str


class SegmentsOut(Schema):
    encoding: str
    units: int
    segments: int


class ProblemOut(Schema):
    code: str
    detail: str


class ReplyWindowOut(Schema):
    open: bool = Field(description="Whether free text may be sent now (else only templates).")
    closes_at: datetime | None = Field(
        description="When the window closes (or closed): 24 h after the customer's last "
        "WhatsApp message here; null if they never wrote on this channel in this conversation."
    )


class ReplyInfoOut(Schema):
    channel: ChannelOut | None
    segments: SegmentsOut | None = Field(description="SMS only: how the text will be split.")
    problem: ProblemOut | None = Field(description="Why a reply there would be refused.")
    window: ReplyWindowOut | None = Field(
        description="WhatsApp only: the 24-hour customer-service window. A hint: sending outside "
        "it is not refused here, Meta refuses it (the message fails with meta_131047)."
    )


class CannedReplyIn(Schema):
    shortcut: str = Field(min_length=1, max_length=41)
    title: str = Field(default="", max_length=100)
    text: str = Field(min_length=1, max_length=10_000)


class CannedReplyOut(Schema):
    shortcut: str
    title: str
    text: str
    rendered: str | None = Field(
        default=None, description="With ?conversation=: the text filled in for it."
    )


class AgentOut(Schema):
    id: str = Field(alias="public_id")
    name: str
    email: str
    role: str
    available: bool
    max_open: int
    open_count: int

    @staticmethod
    def resolve_available(obj: Any) -> bool:
        return bool(obj.profile.available)

    @staticmethod
    def resolve_max_open(obj: Any) -> int:
        return int(obj.profile.max_open)


class AgentPatchIn(Schema):
    available: bool | None = None
    max_open: int | None = Field(default=None, ge=0, le=100)


# --- callbacks and modality switches ----------------------------------------------------------

CallbackKind = Literal["callback", "chat"]


class SwitchLinkIn(Schema):
    ttl_minutes: int = Field(default=60, description="How long the link works: 5 to 10,080.")


class SwitchLinkOut(Schema):
    id: str = Field(alias="public_id")
    conversation: str
    expires_at: datetime
    message: str | None = Field(
        description="The message that carried the link (its text shows the link redacted)."
    )

    @staticmethod
    def resolve_conversation(obj: Any) -> str:
        return str(obj.conversation.public_id)

    @staticmethod
    def resolve_message(obj: Any) -> str | None:
        return obj.message.public_id if obj.message is not None else None


class CallbackOfferIn(Schema):
    kind: CallbackKind = "callback"


class CallbackOfferOut(Schema):
    id: str = Field(alias="public_id")
    conversation: str
    kind: str
    slots: list[datetime] = Field(description="Slot starts offered, earliest first.")
    expires_at: datetime
    used_at: datetime | None
    message: str | None = Field(description="The message that carried the offer.")

    @staticmethod
    def resolve_conversation(obj: Any) -> str:
        return str(obj.conversation.public_id)

    @staticmethod
    def resolve_message(obj: Any) -> str | None:
        return obj.message.public_id if obj.message is not None else None


class CallbackBookIn(Schema):
    slot: str = Field(description="One of the offer's slots (its start, ISO 8601 with zone).")


class CallbackCancelIn(Schema):
    reason: str = Field(default="", max_length=300)


class CallbackOut(Schema):
    id: str = Field(alias="public_id")
    conversation: str
    kind: str
    status: str = Field(description="booked, cancelled, missed or done.")
    starts_at: datetime
    ends_at: datetime
    booked_at: datetime
    reminded_at: datetime | None
    due_at: datetime | None = Field(description="When its time came (top of the inbox).")
    agent: PersonOut | None

    @staticmethod
    def resolve_conversation(obj: Any) -> str:
        return str(obj.conversation.public_id)

    @staticmethod
    def resolve_agent(obj: Any) -> Any:
        user = obj.agent
        if user is None:
            return None
        return {"public_id": user.public_id, "name": user.name or user.email}


class HealthReasonOut(Schema):
    code: str
    text: str
    weight: int = Field(description="Points taken off the score (negative: given back).")


class HealthSuggestionOut(Schema):
    kind: Literal["none", "switch_modality", "schedule_callback"]
    channel: str | None = Field(description="The channel to switch to (switch_modality).")
    why: str
    action: str | None = Field(
        description="The endpoint that carries the suggestion out (POST), if there is one."
    )


class HealthOut(Schema):
    score: int = Field(description="0–100, higher is healthier.")
    going_badly: bool
    reasons: list[HealthReasonOut]
    suggestions: list[HealthSuggestionOut]
    scored_at: datetime
