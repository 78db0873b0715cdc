"""Small builders for transcripts in tests: minutes from a fixed start, channel sms unless said."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pocketdesk.conversations.health import HealthContext, TranscriptMessage
from pocketdesk.conversations.health.signals import Transcript, transcript_read

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def customer(text: str, minute: float = 0, channel: str = "sms", **extra: Any) -> TranscriptMessage:
    return TranscriptMessage("customer", channel, text, at(minute), **extra)


def agent(text: str, minute: float = 0, channel: str = "sms", **extra: Any) -> TranscriptMessage:
    return TranscriptMessage("agent", channel, text, at(minute), **extra)


def context(
    messages: list[TranscriptMessage], now: float | None = None, **extra: Any
) -> HealthContext:
    moment = at(now) if now is not None else max(message.at for message in messages)
    return HealthContext(now=moment, **extra)


def read(*messages: TranscriptMessage, now: float | None = None, **extra: Any) -> Transcript:
    return transcript_read(list(messages), context=context(list(messages), now, **extra))
