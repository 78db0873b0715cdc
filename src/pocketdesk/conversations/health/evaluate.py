"""Precision, recall and F1 of ``going_badly``, and suggestion accuracy, over a labelled
dataset file (JSON Lines, one transcript per line; format in dataset/README.md)."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketdesk.conversations.health.score import health_score
from pocketdesk.conversations.health.transcript import (
    TranscriptFormatError,
    transcript_from_json,
)

LABELS = ("smooth", "going_badly")


@dataclass(frozen=True, slots=True)
class Miss:
    id: str
    label: str
    predicted: str
    score: int
    expected_suggestion: str
    suggestion: str
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Evaluation:
    total: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    suggestion_kind_right: int = 0
    suggestion_exact_right: int = 0
    misses: list[Miss] = field(default_factory=list)

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def suggestion_kind_accuracy(self) -> float:
        return self.suggestion_kind_right / self.total if self.total else 0.0

    @property
    def suggestion_exact_accuracy(self) -> float:
        """Kind and, for switch_modality, the target channel."""
        return self.suggestion_exact_right / self.total if self.total else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "transcripts": self.total,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "confusion": {
                "true_positives": self.true_positives,
                "false_positives": self.false_positives,
                "false_negatives": self.false_negatives,
                "true_negatives": self.true_negatives,
            },
            "suggestion_kind_accuracy": round(self.suggestion_kind_accuracy, 3),
            "suggestion_exact_accuracy": round(self.suggestion_exact_accuracy, 3),
        }


def dataset_load(path: Path) -> list[dict[str, Any]]:
    """The dataset's lines as objects; TranscriptFormatError names the bad line."""
    items = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise TranscriptFormatError(f"line {number}: not JSON ({error.msg}).") from None
            if not isinstance(item, dict):
                raise TranscriptFormatError(f"line {number}: expected an object.")
            if item.get("label") not in LABELS:
                raise TranscriptFormatError(f"line {number}: label must be one of {LABELS}.")
            item["_line"] = number
            items.append(item)
    return items


def _suggestion_text(kind: str, channel: str | None) -> str:
    return f"{kind}:{channel}" if kind == "switch_modality" else kind


def dataset_evaluate(path: Path) -> Evaluation:
    result = Evaluation()
    for item in dataset_load(path):
        try:
            messages, context = transcript_from_json(item)
        except TranscriptFormatError as error:
            raise TranscriptFormatError(f"line {item['_line']}: {error}") from None
        health = health_score(messages, context=context)
        expected_bad = item["label"] == "going_badly"
        expected_suggestion = str(item.get("suggestion", "none"))
        suggestion = _suggestion_text(health.suggestion.kind, health.suggestion.channel)
        result.total += 1
        if health.going_badly and expected_bad:
            result.true_positives += 1
        elif health.going_badly:
            result.false_positives += 1
        elif expected_bad:
            result.false_negatives += 1
        else:
            result.true_negatives += 1
        kind_right = expected_suggestion.split(":", 1)[0] == health.suggestion.kind
        result.suggestion_kind_right += kind_right
        result.suggestion_exact_right += expected_suggestion == suggestion
        if health.going_badly != expected_bad or expected_suggestion != suggestion:
            result.misses.append(
                Miss(
                    id=str(item.get("id", item["_line"])),
                    label=item["label"],
                    predicted="going_badly" if health.going_badly else "smooth",
                    score=health.score,
                    expected_suggestion=expected_suggestion,
                    suggestion=suggestion,
                    reasons=tuple(f"{r.code}:{r.weight}" for r in health.reasons),
                )
            )
    return result
