"""`pocketdesk health score FILE.json`: JSON out, clear errors with exit code 2."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

DATASET = Path(__file__).resolve().parent.parent / "dataset" / "dev.jsonl"

STUCK = [
    {
        "from": "customer",
        "channel": "sms",
        "text": "When will my refund arrive? Order 4410",
        "at": "2026-03-10T09:00:00Z",
    },
    {
        "from": "agent",
        "channel": "sms",
        "text": "Refunds take 5-10 business days.",
        "at": "2026-03-10T09:10:00Z",
        "status": "delivered",
    },
    {
        "from": "customer",
        "channel": "sms",
        "text": "It's been 15 days. When will my refund arrive?",
        "at": "2026-03-10T09:30:00Z",
    },
    {
        "from": "agent",
        "channel": "sms",
        "text": "Refunds take 5-10 business days.",
        "at": "2026-03-10T09:45:00Z",
        "status": "undelivered",
    },
    {
        "from": "customer",
        "channel": "sms",
        "text": "This is ridiculous. Call me, I'm asking for the third time when my refund "
        "will arrive!",
        "at": "2026-03-10T10:00:00Z",
    },
]


def health(*args: str) -> dict:
    out = io.StringIO()
    call_command("health", *args, stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def write(tmp_path: Path, content: object, name: str = "t.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_score_prints_score_verdict_reasons_and_suggestion(tmp_path):
    result = health("score", str(write(tmp_path, STUCK)))

    assert set(result) == {"score", "going_badly", "reasons", "suggestion"}
    assert result["going_badly"] is True
    assert 0 <= result["score"] <= 60
    codes = {reason["code"] for reason in result["reasons"]}
    assert {"repetition", "cue_frustration", "cue_callback_request"} <= codes
    assert all(set(reason) == {"code", "text", "weight"} for reason in result["reasons"])
    assert result["suggestion"] == {
        "kind": "schedule_callback",
        "channel": None,
        "why": result["suggestion"]["why"],
    }


def test_score_accepts_messages_with_context_and_a_now_override(tmp_path):
    waiting = [
        {
            "from": "customer",
            "channel": "whatsapp",
            "text": "Hi, my order never came",
            "at": "2026-03-10T09:00:00+01:00",
        }
    ]
    path = write(tmp_path, {"messages": waiting, "context": {"preferred_channel": "whatsapp"}})

    assert health("score", str(path))["going_badly"] is False
    later = health("score", str(path), "--now", "2026-03-10T12:00:00+01:00")
    assert later["going_badly"] is True
    assert later["reasons"][0]["code"] == "waiting"


def test_score_reads_a_dataset_line(tmp_path):
    line = DATASET.read_text(encoding="utf-8").splitlines()[0]
    result = health("score", str(write(tmp_path, line)))
    assert result["going_badly"] is (json.loads(line)["label"] == "going_badly")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1, column 2"),
        ({"nothing": []}, 'Expected a list of messages or {"messages": [...]}'),
        ([], "messages: the list is empty."),
        (
            [{"from": "bot", "channel": "sms", "text": "hi", "at": "2026-03-10T09:00:00Z"}],
            'messages[0].from: expected "customer" or "agent".',
        ),
        (
            [{"from": "customer", "text": "hi", "at": "2026-03-10T09:00:00Z"}],
            "messages[0].channel: expected a channel name.",
        ),
        (
            [{"from": "customer", "channel": "sms", "text": "hi", "at": "yesterday"}],
            "messages[0].at: 'yesterday' is not an ISO 8601 time.",
        ),
        (
            [{"from": "customer", "channel": "sms", "text": "hi", "at": "2026-03-10T09:00:00"}],
            "has no time zone",
        ),
        (
            [{"from": "customer", "channel": "sms", "text": 3, "at": "2026-03-10T09:00:00Z"}],
            "messages[0].text: expected a string.",
        ),
        (
            {"messages": STUCK, "context": {"in_send_window": "no"}},
            "context.in_send_window: expected true, false or null.",
        ),
    ],
)
def test_bad_files_are_a_clear_error_with_exit_code_2(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(CommandError) as failed:
        health("score", str(path))
    assert failed.value.returncode == 2
    assert message in str(failed.value)
    assert str(path) in str(failed.value)


def test_a_missing_file_or_a_bad_now_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file") as missing:
        health("score", str(tmp_path / "nope.json"))
    assert missing.value.returncode == 2
    with pytest.raises(CommandError, match="not UTF-8"):
        health("score", _latin1(tmp_path))
    with pytest.raises(CommandError, match="--now: 'soon' is not an ISO 8601 time"):
        health("score", str(write(tmp_path, STUCK)), "--now", "soon")


def _latin1(tmp_path: Path) -> str:
    path = tmp_path / "latin1.json"
    path.write_bytes('[{"text": "caf\xe9"}]'.encode("latin-1"))
    return str(path)


def test_evaluate_prints_precision_and_recall(tmp_path):
    result = health("evaluate", str(DATASET), "--misses")
    assert result["transcripts"] >= 120
    assert {"precision", "recall", "f1", "suggestion_kind_accuracy", "misses"} <= set(result)
    bad = write(tmp_path, '{"label": "maybe"}\n', "bad.jsonl")
    with pytest.raises(CommandError, match=r"line 1: label must be one of"):
        health("evaluate", str(bad))


# --- the real console script, in its own process ----------------------------------------------


def test_python_m_pocketdesk_health_score(tmp_path):
    env = {**os.environ, "PD_MODE": "test"}
    good = subprocess.run(
        [sys.executable, "-m", "pocketdesk", "health", "score", str(write(tmp_path, STUCK))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    result = json.loads(good.stdout)
    assert result["going_badly"] is True
    assert result["suggestion"]["kind"] == "schedule_callback"

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pocketdesk",
            "health",
            "score",
            str(write(tmp_path, "[1, 2", "bad.json")),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "not valid JSON" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert bad.stdout == ""
