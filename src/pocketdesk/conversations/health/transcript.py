"""The detector's inputs and outputs (plain dataclasses, no database) and the JSON transcript
format the CLI and the datasets use."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pocketdesk.conversations.health import config

Sender = Literal["customer", "agent"]
SuggestionKind = Literal["none", "switch_modality", "schedule_callback"]


@dataclass(frozen=True, slots=True)
class TranscriptMessage:
    """One message (or event) of a conversation, oldest first.

    ``status`` is the delivery status of an agent message (queued, sent, delivered, read,
    undelivered, failed). ``kind`` is "text", "form" (an interactive form) or "reconnect" (a web
    chat session that dropped and came back; its text is ignored).
    """

    sender: Sender
    channel: str
    text: str
    at: datetime
    status: str | None = None
    kind: str = "text"
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class HealthContext:
    """What the caller knows beyond the transcript. ``now`` is when the score is taken (waiting
    is measured up to it); ``language`` is "en", "fr", or another code (then only the
    language-independent signals run); None means guess from the text."""

    now: datetime
    preferred_channel: str | None = None
    in_send_window: bool | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the score moved: ``weight`` points taken off (negative: given back)."""

    code: str
    text: str
    weight: int
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: SuggestionKind
    channel: str | None
    why: str


@dataclass(frozen=True, slots=True)
class HealthResult:
    score: int  # 0–100, higher is healthier
    going_badly: bool
    reasons: list[Reason]
    suggestion: Suggestion


def channel_normalise(channel: str | None) -> str:
    name = (channel or "").strip().lower()
    return config.CHANNEL_ALIASES.get(name, name)


class TranscriptFormatError(ValueError):
    """The JSON transcript cannot be read; the message says where and why."""


def time_parse(value: Any, where: str = "time") -> datetime:
    """An aware datetime from an ISO 8601 string, or TranscriptFormatError."""
    if not isinstance(value, str):
        raise TranscriptFormatError(f"{where}: expected an ISO 8601 time string.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TranscriptFormatError(f"{where}: {value!r} is not an ISO 8601 time.") from None
    if moment.tzinfo is None:
        raise TranscriptFormatError(f"{where}: {value!r} has no time zone (add Z or +hh:mm).")
    return moment


def messages_from_json(items: Any) -> list[TranscriptMessage]:
    """Messages from the JSON format ``{"from", "channel", "text", "at", "status"?, "kind"?,
    "attachments"?}``, sorted by time (stable for equal times)."""
    if not isinstance(items, list):
        raise TranscriptFormatError("messages: expected a list of message objects.")
    if not items:
        raise TranscriptFormatError("messages: the list is empty.")
    messages = []
    for index, item in enumerate(items):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise TranscriptFormatError(f"{where}: expected an object.")
        sender = item.get("from", item.get("sender"))
        if sender not in ("customer", "agent"):
            raise TranscriptFormatError(f'{where}.from: expected "customer" or "agent".')
        channel = item.get("channel")
        if not isinstance(channel, str) or not channel.strip():
            raise TranscriptFormatError(f"{where}.channel: expected a channel name.")
        text = item.get("text", "")
        if not isinstance(text, str):
            raise TranscriptFormatError(f"{where}.text: expected a string.")
        status = item.get("status")
        if status is not None and not isinstance(status, str):
            raise TranscriptFormatError(f"{where}.status: expected a string or null.")
        kind = item.get("kind", "text")
        if not isinstance(kind, str):
            raise TranscriptFormatError(f"{where}.kind: expected a string.")
        attachments = item.get("attachments", 0)
        if isinstance(attachments, list):
            attachments = len(attachments)
        if not isinstance(attachments, int) or isinstance(attachments, bool) or attachments < 0:
            raise TranscriptFormatError(f"{where}.attachments: expected a count or a list.")
        messages.append(
            TranscriptMessage(
                sender=sender,
                channel=channel_normalise(channel),
                text=text,
                at=time_parse(item.get("at"), f"{where}.at"),
                status=status.lower() if status else None,
                kind=kind.lower(),
                attachments=attachments,
            )
        )
    messages.sort(key=lambda message: message.at)
    return messages


def context_from_json(
    data: Any, *, messages: Sequence[TranscriptMessage], now: datetime | None = None
) -> HealthContext:
    """The context object ``{"now"?, "preferred_channel"?, "in_send_window"?, "language"?}``.
    Without ``now`` (here or in the object) the score is taken at the last message's time."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TranscriptFormatError("context: expected an object.")
    if now is None:
        now = (
            time_parse(data["now"], "context.now")
            if data.get("now") is not None
            else max(message.at for message in messages)
        )
    preferred = data.get("preferred_channel")
    if preferred is not None and not isinstance(preferred, str):
        raise TranscriptFormatError("context.preferred_channel: expected a channel name.")
    window = data.get("in_send_window")
    if window is not None and not isinstance(window, bool):
        raise TranscriptFormatError("context.in_send_window: expected true, false or null.")
    language = data.get("language")
    if language is not None and not isinstance(language, str):
        raise TranscriptFormatError("context.language: expected a language code.")
    return HealthContext(
        now=now,
        preferred_channel=channel_normalise(preferred) if preferred else None,
        in_send_window=window,
        language=language.lower() if language else None,
    )


def transcript_from_json(
    data: Any, *, now: datetime | None = None
) -> tuple[list[TranscriptMessage], HealthContext]:
    """A transcript file's content: a list of messages, or ``{"messages": [...], "context":
    {...}}`` (a dataset line is the latter with more keys)."""
    if isinstance(data, dict):
        if "messages" not in data:
            raise TranscriptFormatError('Expected a list of messages or {"messages": [...]}.')
        messages = messages_from_json(data["messages"])
        return messages, context_from_json(data.get("context"), messages=messages, now=now)
    messages = messages_from_json(data)
    return messages, context_from_json(None, messages=messages, now=now)
