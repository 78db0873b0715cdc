"""The configuration API over HTTP: workflows, rules, templates (preview), segments (count) and
broadcasts; admins write, agents read and broadcast, others are refused; every bad input is a
422 with a code."""

import pytest

from pocketdesk.core.models import AuditEvent
from pocketdesk.customers.services import consent_set
from pocketdesk.notifications.models import AlertRule, Event, Segment, Template, Workflow

pytestmark = pytest.mark.django_db

STEPS = [
    {"type": "send", "channels": ["webpush", "phone", "email"], "fallback_after_minutes": 15},
    {"type": "digest", "window_minutes": 30},
]


@pytest.fixture
def admin_api(admin_user, api_as):
    return api_as(admin_user)


@pytest.fixture
def agent_api(agent, api_as):
    return api_as(agent)


def _workflow(api, key="delays", **extra):
    body = {"key": key, "name": "Delays", "steps": STEPS, **extra}
    response = api.post("/notifications/workflows", body)
    assert response.status_code == 201, response.content
    return response.json()


def _assert_422(response, code):
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    return body


# --- workflows -------------------------------------------------------------------------------


def test_admins_create_read_change_and_delete_workflows(admin_api, admin_user):
    created = _workflow(admin_api, category="travel")
    assert created["steps"] == STEPS
    assert created["id"].startswith("wf_")

    listed = admin_api.get("/notifications/workflows").json()
    assert [w["key"] for w in listed] == ["delays"]
    by_key = admin_api.get("/notifications/workflows/delays")
    assert by_key.json()["id"] == created["id"]

    changed = admin_api.patch(
        f"/notifications/workflows/{created['id']}",
        {"steps": [{"type": "send"}], "critical": True, "name": "Urgent"},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["steps"] == [{"type": "send", "channels": []}]
    assert changed.json()["critical"] is True
    assert changed.json()["purpose"] == "alerts"

    assert admin_api.delete(f"/notifications/workflows/{created['id']}").status_code == 204
    assert not Workflow.objects.exists()
    audited = AuditEvent.objects.filter(target_type="notifications.workflow").order_by("pk")
    actions = list(audited.values_list("action", "actor"))
    assert actions == [
        ("workflow.created", admin_user.pk),
        ("workflow.updated", admin_user.pk),
        ("workflow.deleted", admin_user.pk),
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"steps": []}, "invalid_steps"),
        ({"steps": "send"}, "invalid_steps"),
        ({"steps": [{"type": "teleport"}]}, "invalid_steps"),
        ({"steps": [{"type": "send", "channels": ["pigeon"]}]}, "invalid_steps"),
        ({"steps": [{"type": "delay"}]}, "invalid_steps"),
        ({"purpose": "marketing", "critical": True}, "critical_marketing"),
        ({"purpose": "gossip"}, "invalid_purpose"),
        ({"key": "Not A Key"}, "invalid_key"),
        ({"key": None}, "validation_error"),
        ({"category": "Bad Category"}, "validation_error"),
    ],
)
def test_bad_workflows_answer_422(admin_api, body, code):
    response = admin_api.post(
        "/notifications/workflows", {"key": "w", "name": "W", "steps": STEPS, **body}
    )
    _assert_422(response, code)
    assert not Workflow.objects.exists()


def test_a_marketing_workflow_cannot_be_made_critical_later(admin_api):
    created = _workflow(admin_api, purpose="marketing")
    response = admin_api.patch(f"/notifications/workflows/{created['id']}", {"critical": True})
    _assert_422(response, "critical_marketing")
    assert Workflow.objects.get().critical is False


def test_a_taken_key_is_a_conflict_and_a_used_workflow_cannot_be_deleted(admin_api):
    created = _workflow(admin_api)
    again = admin_api.post(
        "/notifications/workflows", {"key": "delays", "name": "X", "steps": STEPS}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "key_taken"
    admin_api.post(
        "/notifications/rules",
        {"name": "All", "event_type": "flight.delayed", "workflow": "delays"},
    )
    refused = admin_api.delete(f"/notifications/workflows/{created['id']}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "workflow_in_use"
    assert Workflow.objects.exists()


def test_agents_read_settings_but_only_admins_write_them(admin_api, agent_api):
    created = _workflow(admin_api)
    assert agent_api.get("/notifications/workflows").status_code == 200
    assert agent_api.get(f"/notifications/workflows/{created['id']}").status_code == 200

    writes = [
        agent_api.post("/notifications/workflows", {"key": "x", "name": "X", "steps": STEPS}),
        agent_api.patch(f"/notifications/workflows/{created['id']}", {"name": "Mine"}),
        agent_api.delete(f"/notifications/workflows/{created['id']}"),
        agent_api.post(
            "/notifications/rules",
            {"name": "R", "event_type": "flight.delayed", "workflow": "delays"},
        ),
        agent_api.post("/notifications/templates", {"event_type": "flight.delayed", "body": "x"}),
        agent_api.post("/notifications/segments", {"key": "s", "name": "S", "filters": {}}),
    ]
    assert [r.status_code for r in writes] == [403] * 6
    assert Workflow.objects.get().name == "Delays"


def test_customers_and_partners_cannot_use_the_configuration_api(api_as, make_user, make_customer):
    for user in (make_customer().user, make_user("partner"), make_user("employee")):
        api = api_as(user)
        assert api.get("/notifications/workflows").status_code == 403
        assert api.get("/notifications/segments").status_code == 403
        assert api.post("/notifications/templates/preview", {"event_type": "x"}).status_code == 403


def test_unknown_ids_are_404(admin_api):
    assert admin_api.get("/notifications/workflows/wf_nothing").status_code == 404
    assert admin_api.get("/notifications/rules/rule_nothing").status_code == 404
    assert admin_api.get("/notifications/templates/999").status_code == 404
    assert admin_api.get("/notifications/segments/nothing/count").status_code == 404


# --- rules -----------------------------------------------------------------------------------


def test_rules_are_created_listed_changed_and_deleted(admin_api):
    _workflow(admin_api)
    _workflow(admin_api, key="calm")
    created = admin_api.post(
        "/notifications/rules",
        {
            "name": "Long delays",
            "event_type": "flight.delayed",
            "workflow": "delays",
            "condition": "payload.delay_minutes > 120",
            "priority": 10,
        },
    )
    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["workflow"], rule["priority"]) == ("delays", 10)

    changed = admin_api.patch(
        f"/notifications/rules/{rule['id']}",
        {"workflow": "calm", "condition": 'customer.language == "fr"'},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["workflow"] == "calm"
    assert changed.json()["condition"] == 'customer.language == "fr"'
    listed = admin_api.get("/notifications/rules", {"event_type": "flight.delayed"}).json()
    assert [r["id"] for r in listed] == [rule["id"]]
    assert admin_api.get("/notifications/rules", {"event_type": "maintenance.due"}).json() == []

    assert admin_api.delete(f"/notifications/rules/{rule['id']}").status_code == 204
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"condition": "payload.delay >"}, "invalid_condition"),
        ({"condition": "order.total > 3"}, "invalid_condition"),
        ({"event_type": "flight.teleported"}, "unknown_event_type"),
        ({"workflow": "nope"}, "unknown_workflow"),
        ({"priority": -1}, "validation_error"),
        ({"name": "  "}, "validation_error"),
    ],
)
def test_bad_rules_answer_422_with_the_reason(admin_api, body, code):
    _workflow(admin_api)
    base = {"name": "R", "event_type": "flight.delayed", "workflow": "delays"}
    response = admin_api.post("/notifications/rules", {**base, **body})
    _assert_422(response, code)
    assert not AlertRule.objects.exists()


def test_a_condition_that_does_not_parse_says_where(admin_api):
    _workflow(admin_api)
    body = {"name": "R", "event_type": "flight.delayed", "workflow": "delays"}
    response = admin_api.post("/notifications/rules", {**body, "condition": "payload.x = 1"})

    detail = _assert_422(response, "invalid_condition")
    assert "line 1, column 11" in detail["detail"]
    assert detail["errors"] == [{"field": "condition", "message": detail["detail"]}]


# --- templates -------------------------------------------------------------------------------


def test_templates_are_upserted_per_type_channel_and_language(admin_api):
    body = {"event_type": "flight.delayed", "channel_kind": "phone", "language": "fr"}
    first = admin_api.post("/notifications/templates", {**body, "body": "Vol {{ payload.flight }}"})
    second = admin_api.post("/notifications/templates", {**body, "body": "{{ payload.flight }} !"})

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Template.objects.get().body == "{{ payload.flight }} !"
    listed = admin_api.get("/notifications/templates", {"event_type": "flight.delayed"}).json()
    assert len(listed) == 1
    assert admin_api.delete(f"/notifications/templates/{first.json()['id']}").status_code == 204
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"body": "{% if payload.x %}"}, "invalid_template"),
        ({"body": "{{ payload.x|nosuch }}"}, "invalid_template"),
        ({"body": "{% include 'web/base.html' %}"}, "invalid_template"),
        ({"subject": "{{ payload.x|nosuch }}"}, "invalid_template"),
        ({"body": "   "}, "invalid_template"),
        ({"channel_kind": "fax"}, "invalid_channel"),
        ({"language": "de"}, "invalid_language"),
        ({"event_type": "nope"}, "unknown_event_type"),
    ],
)
def test_bad_templates_answer_422(admin_api, body, code):
    base = {"event_type": "flight.delayed", "body": "{{ payload.flight }}"}
    _assert_422(admin_api.post("/notifications/templates", {**base, **body}), code)
    assert not Template.objects.exists()


def test_preview_renders_a_draft_or_the_stored_text_with_segments(agent_api, admin_api):
    draft = agent_api.post(
        "/notifications/templates/preview",
        {
            "event_type": "flight.delayed",
            "channel_kind": "phone",
            "payload": {"flight": "AC1", "new_time": "19:00"},
            "body": "{{ payload.flight }} <now> {{ payload.new_time }}",
        },
    )
    assert draft.status_code == 200, draft.content
    assert draft.json() == {
        "subject": "Flight delayed",
        "body": "AC1 <now> 19:00",
        "segments": 1,
        "warning": "",
    }

    stored = agent_api.post(
        "/notifications/templates/preview",
        {"event_type": "flight.delayed", "channel_kind": "email", "payload": {"flight": "AC9"}},
    )
    assert stored.json()["body"] == "Your flight AC9 is delayed to ."
    assert stored.json()["segments"] is None

    long = agent_api.post(
        "/notifications/templates/preview",
        {
            "event_type": "broadcast",
            "channel_kind": "phone",
            "payload": {"text": "Our opening hours change. " * 20},
        },
    )
    assert long.json()["segments"] == 4
    assert "link" in long.json()["warning"]


def test_a_draft_that_does_not_parse_or_render_answers_422(agent_api):
    base = {"event_type": "flight.delayed", "channel_kind": "phone", "payload": {"p": [[1, 2, 3]]}}
    bad = agent_api.post("/notifications/templates/preview", {**base, "body": "{% if %}"})
    _assert_422(bad, "invalid_template")
    failing = agent_api.post(
        "/notifications/templates/preview",
        {**base, "body": "{% for a, b in payload.p %}{{ a }}{% endfor %}"},
    )
    assert "fails to render" in _assert_422(failing, "invalid_template")["detail"]
    payload = agent_api.post("/notifications/templates/preview", {**base, "payload": [1]})
    _assert_422(payload, "validation_error")


# --- segments --------------------------------------------------------------------------------


def test_segments_are_created_counted_changed_and_deleted(admin_api, agent_api, make_customer):
    make_customer(name="Ada", language="fr")
    make_customer(name="Bob", language="en")
    created = admin_api.post(
        "/notifications/segments",
        {"key": "french", "name": "French", "filters": {"language": ["fr"]}},
    )
    assert created.status_code == 201, created.content
    segment = created.json()
    assert segment["id"].startswith("seg_")

    count = agent_api.get(f"/notifications/segments/{segment['id']}/count")
    assert count.json() == {"id": segment["id"], "key": "french", "count": 1}
    changed = admin_api.patch(
        "/notifications/segments/french", {"filters": {"language": ["fr", "en"]}}
    )
    assert changed.status_code == 200, changed.content
    assert agent_api.get("/notifications/segments/french/count").json()["count"] == 2
    assert [s["key"] for s in agent_api.get("/notifications/segments").json()] == ["french"]

    assert admin_api.delete("/notifications/segments/french").status_code == 204
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    "filters",
    [
        ["language", "fr"],
        {"planet": ["Mars"]},
        {"language": "fr"},
        {"country": ["ZZ"]},
        {"created_after": "yesterday"},
        {"customers": ["cus_nobody"]},
    ],
)
def test_malformed_audiences_answer_422(admin_api, filters):
    response = admin_api.post(
        "/notifications/segments", {"key": "s", "name": "S", "filters": filters}
    )
    _assert_422(response, "invalid_segment")
    assert not Segment.objects.exists()


# --- broadcasts ------------------------------------------------------------------------------


def test_agents_broadcast_to_a_segment_once_per_source_id(admin_api, agent_api, agent):
    admin_api.post("/notifications/segments", {"key": "all", "name": "All", "filters": {}})
    _workflow(admin_api, key="promo", purpose="marketing")
    body = {
        "segment": "all",
        "source_id": "xmas-1",
        "title": "Holiday hours",
        "text": "Closed on the 25th.",
        "workflow": "promo",
    }

    first = agent_api.post("/notifications/broadcasts", body)
    replay = agent_api.post("/notifications/broadcasts", {**body, "text": "Other"})

    assert first.status_code == 201, first.content
    assert replay.status_code == 200
    event = Event.objects.get()
    assert (event.type, event.subject_kind, event.subject) == ("broadcast", "segment", "all")
    assert event.payload == {
        "text": "Closed on the 25th.",
        "title": "Holiday hours",
        "workflow": "promo",
    }
    assert event.created_by == agent
    assert first.json()["id"] == replay.json()["id"] == event.public_id
    listed = agent_api.get("/notifications/broadcasts").json()
    assert [e["id"] for e in listed] == [event.public_id]
    assert listed[0]["counts"]["sent"] == 0
    assert AuditEvent.objects.filter(action="broadcast.sent", actor=agent).count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"segment": "nope"}, "unknown_segment"),
        ({"workflow": "nope"}, "unknown_workflow"),
        ({"text": "  "}, "validation_error"),
        ({"text": "x" * 1001}, "validation_error"),
        ({"title": "t" * 121}, "validation_error"),
        ({"source_id": ""}, "validation_error"),
    ],
)
def test_bad_broadcasts_answer_422(admin_api, agent_api, body, code):
    admin_api.post("/notifications/segments", {"key": "all", "name": "All", "filters": {}})
    base = {"segment": "all", "source_id": "b-1", "text": "Hello"}
    _assert_422(agent_api.post("/notifications/broadcasts", {**base, **body}), code)
    assert not Event.objects.exists()


def test_events_may_name_a_segment_as_their_subject(admin_api, make_user, api_as, make_customer):
    customer = make_customer()
    consent_set(actor=None, customer=customer, purpose="alerts", granted=True, source="web")
    segment = admin_api.post(
        "/notifications/segments", {"key": "everyone", "name": "Everyone", "filters": {}}
    ).json()
    partner = api_as(make_user("partner"))
    body = {"type": "maintenance.due", "source_id": "m-1", "payload": {"product": "Boiler"}}

    by_id = partner.post("/notifications/events", {**body, "subject": {"segment": segment["id"]}})
    unknown = partner.post(
        "/notifications/events", {**body, "source_id": "m-2", "subject": {"segment": "nope"}}
    )

    assert by_id.status_code == 201, by_id.content
    assert (by_id.json()["subject_kind"], by_id.json()["subject"]) == ("segment", "everyone")
    _assert_422(unknown, "unknown_segment")


def test_partners_cannot_send_broadcasts_through_the_events_api(admin_api, make_user, api_as):
    admin_api.post("/notifications/segments", {"key": "all", "name": "All", "filters": {}})
    partner = api_as(make_user("partner"))
    response = partner.post(
        "/notifications/events",
        {
            "type": "broadcast",
            "source_id": "p-1",
            "subject": {"segment": "all"},
            "payload": {"text": "Anything at all"},
        },
    )
    assert response.status_code == 403
    assert not Event.objects.exists()
