"""The detector against the labelled datasets: the dev set it was tuned on, and the held-out set
written independently (when present)."""

import json
from collections import Counter
from pathlib import Path

import pytest

from pocketdesk.conversations.health.evaluate import Evaluation, dataset_evaluate, dataset_load

DATASETS = Path(__file__).resolve().parent.parent / "dataset"
DEV = DATASETS / "dev.jsonl"
HELDOUT = DATASETS / "heldout.jsonl"
GOAL = 0.85


def _explain(evaluation: Evaluation) -> str:
    misses = "\n".join(
        f"  {m.id}: {m.label} → {m.predicted} (score {m.score}) {', '.join(m.reasons)}"
        for m in evaluation.misses
        if m.label != m.predicted
    )
    return f"{evaluation.summary()}\n{misses}"


def test_dev_set_is_varied_and_well_formed():
    items = dataset_load(DEV)
    assert len(items) >= 120
    assert len({item["id"] for item in items}) == len(items)
    languages = Counter(item["language"] for item in items)
    assert languages["fr"] / len(items) >= 0.30
    labels = Counter(item["label"] for item in items)
    assert abs(labels["smooth"] - labels["going_badly"]) / len(items) <= 0.15
    channels = Counter(item["channel"] for item in items)
    assert {"sms", "whatsapp", "messenger", "email", "webchat", "voice"} <= set(channels)
    for item in items:
        suggestion = item["suggestion"]
        assert suggestion in ("none", "schedule_callback") or suggestion.startswith(
            "switch_modality:"
        ), item["id"]
        assert (item["label"] == "smooth") <= (suggestion == "none"), item["id"]
        assert item["messages"], item["id"]


def test_dev_precision_and_recall_reach_the_goal():
    evaluation = dataset_evaluate(DEV)
    assert evaluation.precision >= GOAL, _explain(evaluation)
    assert evaluation.recall >= GOAL, _explain(evaluation)


def _heldout_lines() -> int:
    if not HELDOUT.is_file():
        return 0
    return sum(1 for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip())


NO_HELDOUT = pytest.mark.skipif(
    _heldout_lines() < 100, reason="no held-out set of 100+ transcripts yet"
)


@NO_HELDOUT
@pytest.mark.xfail(
    strict=True,
    reason="measured 2026-03: held-out precision 1.00, recall 0.82 (58/71) — below the 0.85 goal; "
    "remove this marker when it passes",
)
def test_heldout_precision_and_recall_reach_the_goal():
    evaluation = dataset_evaluate(HELDOUT)
    assert evaluation.precision >= GOAL, _explain(evaluation)
    assert evaluation.recall >= GOAL, _explain(evaluation)


@NO_HELDOUT
def test_heldout_does_not_fall_below_what_was_measured():
    # A regression guard at the level measured when the detector was handed over.
    evaluation = dataset_evaluate(HELDOUT)
    assert evaluation.precision >= GOAL, _explain(evaluation)
    assert evaluation.recall >= 0.80, _explain(evaluation)


def test_evaluation_counts_a_confusion_matrix(tmp_path):
    def line(label: str, text: str, expected: str = "none") -> str:
        message = {"from": "customer", "channel": "sms", "text": text, "at": "2026-03-10T09:00:00Z"}
        return json.dumps(
            {"id": text[:10], "label": label, "suggestion": expected, "messages": [message]}
        )

    path = tmp_path / "tiny.jsonl"
    path.write_text(
        "\n".join(
            [
                line("going_badly", "I can't hear you, call me back later", "schedule_callback"),
                line("going_badly", "What time do you open?", "schedule_callback"),
                line("smooth", "This is ridiculous, unacceptable, I'm furious, call me now"),
                line("smooth", "Thanks, all good"),
            ]
        ),
        encoding="utf-8",
    )
    evaluation = dataset_evaluate(path)
    assert (
        evaluation.true_positives,
        evaluation.false_negatives,
        evaluation.false_positives,
        evaluation.true_negatives,
    ) == (1, 1, 1, 1)
    assert (evaluation.precision, evaluation.recall, evaluation.f1) == (0.5, 0.5, 0.5)
    # The first right (callback), the second wrong (none for callback), the third wrong
    # (a callback where none was due), the fourth right.
    assert evaluation.suggestion_kind_accuracy == 0.5
