"""The API's OpenAPI document equals the committed snapshot, so every API change is reviewed.

Regenerate after an intended change: `UPDATE_SNAPSHOTS=1 pytest src/pocketdesk/core/tests`.
"""

import json
import os
from pathlib import Path

from django.test import Client

SNAPSHOT = Path(__file__).with_name("openapi.json")


def _canonical(document: object) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_openapi_document_matches_the_snapshot(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    current = _canonical(response.json())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert SNAPSHOT.exists(), "no snapshot yet: run with UPDATE_SNAPSHOTS=1"
    assert current == SNAPSHOT.read_text(encoding="utf-8"), (
        "The API changed. If that is intended, run with UPDATE_SNAPSHOTS=1 and commit openapi.json."
    )


def test_api_docs_page_is_served(db):
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    assert b"/api/v1/openapi.json" in response.content
