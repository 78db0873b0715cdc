"""`pocketdesk health score FILE.json` scores a transcript and prints the result as JSON;
`pocketdesk health evaluate FILE.jsonl` scores a labelled dataset. Errors go to stderr with
exit code 2, never a traceback."""

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pocketdesk.conversations.health import (
    TranscriptFormatError,
    health_score,
    transcript_from_json,
)
from pocketdesk.conversations.health.evaluate import dataset_evaluate
from pocketdesk.conversations.health.transcript import time_parse


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file.", returncode=2) from None
    except IsADirectoryError:
        raise CommandError(
            f"{path}: is a directory, not a transcript file.", returncode=2
        ) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text.", returncode=2) from None
    except OSError as error:
        raise CommandError(f"{path}: cannot read ({error.strerror}).", returncode=2) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}).",
            returncode=2,
        ) from None


class Command(BaseCommand):
    help = "Score the health of a conversation transcript, or evaluate a labelled dataset."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        score = actions.add_parser(
            "score",
            help="score a transcript: a JSON list of messages "
            '{"from", "channel", "text", "at", "status"?}, '
            'or {"messages": [...], "context": {...}}',
        )
        score.add_argument("file", type=Path)
        score.add_argument(
            "--now",
            help="ISO time the score is taken at (default: context.now, else the last message)",
        )
        evaluate = actions.add_parser(
            "evaluate", help="precision/recall of going_badly over a labelled JSON Lines dataset"
        )
        evaluate.add_argument("file", type=Path)
        evaluate.add_argument(
            "--misses", action="store_true", help="also list the transcripts it got wrong"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "score":
                result = self._score(options)
            else:
                result = self._evaluate(options)
        except TranscriptFormatError as error:
            raise CommandError(f"{options['file']}: {error}", returncode=2) from None
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))

    def _score(self, options: dict[str, Any]) -> dict[str, Any]:
        now = time_parse(options["now"], "--now") if options["now"] else None
        messages, context = transcript_from_json(_read_json(options["file"]), now=now)
        health = health_score(messages, context=context)
        return {
            "score": health.score,
            "going_badly": health.going_badly,
            "reasons": [
                {"code": reason.code, "text": reason.text, "weight": reason.weight}
                for reason in health.reasons
            ],
            "suggestion": {
                "kind": health.suggestion.kind,
                "channel": health.suggestion.channel,
                "why": health.suggestion.why,
            },
        }

    def _evaluate(self, options: dict[str, Any]) -> dict[str, Any]:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file.", returncode=2)
        try:
            evaluation = dataset_evaluate(path)
        except UnicodeDecodeError:
            raise CommandError(f"{path}: not UTF-8 text.", returncode=2) from None
        result = evaluation.summary()
        if options["misses"]:
            result["misses"] = [
                {
                    "id": miss.id,
                    "label": miss.label,
                    "predicted": miss.predicted,
                    "score": miss.score,
                    "expected_suggestion": miss.expected_suggestion,
                    "suggestion": miss.suggestion,
                    "reasons": list(miss.reasons),
                }
                for miss in evaluation.misses
            ]
        return result
