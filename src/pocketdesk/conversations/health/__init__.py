"""Interaction health: an explainable score of how a conversation is going, its reasons, and
the modality switch or callback an agent should offer. Pure Python, no database."""

from pocketdesk.conversations.health.score import health_score
from pocketdesk.conversations.health.transcript import (
    HealthContext,
    HealthResult,
    Reason,
    Suggestion,
    TranscriptFormatError,
    TranscriptMessage,
    transcript_from_json,
)

__all__ = [
    "HealthContext",
    "HealthResult",
    "Reason",
    "Suggestion",
    "TranscriptFormatError",
    "TranscriptMessage",
    "health_score",
    "transcript_from_json",
]
