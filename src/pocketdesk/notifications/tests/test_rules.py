"""Alert rule conditions in CEL: refused when they do not parse or read other names, compiled
once per type by priority, and the first that holds picks the workflow."""

import logging
from datetime import date

import pytest

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.notifications.models import Event
from pocketdesk.notifications.rules import (
    CompiledRule,
    _compile,
    rule_condition_check,
    rule_workflow,
    rules_for,
)
from pocketdesk.notifications.services.configuration import (
    rule_create,
    rule_update,
    workflow_create,
    workflow_update,
)

PASSENGER = {
    "id": "cus_1",
    "language": "fr",
    "time_zone": "Europe/Paris",
    "channels": ["phone", "email"],
    "consents": {"alerts": True, "marketing": False},
}


def _event(payload=None, *, type_="flight.delayed", critical=False):
    return Event(type=type_, payload=payload or {}, critical=critical)


def _rule(condition, workflow_id=7, pk=1):
    """A rule compiled the way rules_for compiles stored ones, without a row."""
    program, uses_customer = _compile(condition) if condition else (None, False)
    return CompiledRule(pk, workflow_id, 100, program, uses_customer)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("payload.delay >", "ends too early"),
        ("payload.delay = 3", "unexpected character '='"),
        ('payload.flight == "AC1', "unexpected"),
        ("order.total > 10", "unknown name 'order'"),
        ("payload.items.exists(i, i > 1) && i > 2", "unknown name 'i'"),
        ("shell(payload)", "unknown function 'shell'"),
        ("payload.name.frobnicate()", "unknown function 'frobnicate'"),
        (".payload.x", "not supported"),
    ],
)
def test_a_condition_that_does_not_parse_or_reads_other_names_is_refused(source, reason):
    with pytest.raises(ValidationFailed) as failure:
        rule_condition_check(source)

    assert failure.value.code == "invalid_condition"
    assert failure.value.extra["errors"][0]["field"] == "condition"
    assert reason in failure.value.detail


@pytest.mark.parametrize(
    "source",
    [
        "",
        "payload.delay_minutes > 30",
        'event.type.startsWith("flight.") && !event.critical',
        '"phone" in customer.channels && customer.consents.alerts',
        "payload.legs.exists(leg, leg.gate == customer.language)",
        'has(payload.gate) && payload.gate.matches("^[A-F][0-9]+$")',
        "size(payload.legs) > 1 ? true : false",
    ],
)
def test_conditions_over_event_payload_and_customer_compile(source):
    assert rule_condition_check(f"  {source}  ") == source


def test_the_first_rule_that_holds_picks_the_workflow():
    rules = [
        _rule("payload.delay_minutes > 120", workflow_id=1, pk=1),
        _rule('customer.language == "fr"', workflow_id=2, pk=2),
        _rule("", workflow_id=3, pk=3),
    ]
    event = _event({"delay_minutes": 45})

    assert rule_workflow(rules, event=event, customer=PASSENGER) == 2
    assert rule_workflow(rules, event=event, customer={**PASSENGER, "language": "en"}) == 3
    assert rule_workflow(rules, event=_event({"delay_minutes": 200}), customer=PASSENGER) == 1
    assert rule_workflow(rules[:2], event=event, customer={**PASSENGER, "language": "en"}) is None
    assert rule_workflow([], event=event, customer=PASSENGER) is None


def test_json_payload_values_become_cel_values():
    payload = {
        "delay_minutes": 45,
        "ratio": 0.75,
        "rebooked": True,
        "gate": "B12",
        "note": None,
        "legs": [{"flight": "AC1", "seats": [1, 2]}, {"flight": "AC2", "seats": []}],
        "crew": {"captain": {"name": "Ada"}},
    }
    holds = [
        "payload.delay_minutes == 45",
        "payload.ratio > 0.5",
        "payload.rebooked",
        'payload.gate == "B12"',
        "payload.note == null",
        "size(payload.legs[0].seats) == 2 && payload.legs[1].seats == []",
        'payload.crew.captain.name == "Ada"',
        'payload.legs.exists(leg, leg.flight == "AC2")',
        'event.type == "flight.delayed" && event.payload.gate == payload.gate',
        "event.critical",
    ]
    event = _event(payload, critical=True)
    for source in holds:
        assert rule_workflow([_rule(source)], event=event, customer=PASSENGER) == 7, source


def test_a_customer_mapping_with_sets_and_dates_still_converts():
    customer = {**PASSENGER, "channels": frozenset({"phone", "email"}), "since": date(2026, 1, 2)}
    rule = _rule('"phone" in customer.channels && customer.since == "2026-01-02"')
    assert rule_workflow([rule], event=_event(), customer=customer) == 7


def test_a_rule_whose_evaluation_fails_does_not_hold_and_is_logged(caplog):
    event = _event({"delay_minutes": 45, "ratio": 0.5})
    caplog.set_level(logging.INFO, logger="pocketdesk.notifications.rules")
    failing = [
        "payload.missing > 1",  # no such key
        'payload.delay_minutes > "soon"',  # type error
        "payload.delay_minutes > 1.5",  # int against double: CEL has no such overload
        "payload.delay_minutes / 0 > 1",
        "customer.nothing",
        "payload.delay_minutes",  # not a bool
    ]
    rules = [_rule(source, workflow_id=n, pk=n) for n, source in enumerate(failing, 1)]

    assert rule_workflow(rules, event=event, customer=PASSENGER) is None
    assert rule_workflow([*rules, _rule("", workflow_id=99)], event=event, customer=None) == 99
    logged = [r for r in caplog.records if r.getMessage() == "notifications.rule.eval_failed"]
    assert len(logged) >= 5
    assert {r.rule for r in logged} >= {1, 2, 3, 4, 5}


def test_a_missing_key_tested_with_has_or_an_or_still_decides():
    event = _event({"delay_minutes": 45})
    assert rule_workflow([_rule("payload.missing > 1 || true")], event=event, customer=None) == 7
    assert rule_workflow([_rule("has(payload.missing)")], event=event, customer=None) is None


@pytest.mark.django_db
def test_rules_for_lists_active_rules_of_a_type_by_priority_then_pk(admin_user):
    steps = [{"type": "send", "channels": ["phone"]}]
    urgent = workflow_create(actor=admin_user, key="urgent", name="Urgent", steps=steps)
    calm = workflow_create(actor=admin_user, key="calm", name="Calm", steps=steps)
    retired = workflow_create(actor=admin_user, key="retired", name="Old", steps=steps)
    second = rule_create(
        actor=admin_user,
        name="French",
        event_type="flight.delayed",
        workflow=calm,
        condition='customer.language == "fr"',
        priority=20,
    )
    first = rule_create(
        actor=admin_user,
        name="Long delays",
        event_type="flight.delayed",
        workflow=urgent,
        condition="payload.delay_minutes > 120",
        priority=10,
    )
    third = rule_create(
        actor=admin_user, name="Rest", event_type="flight.delayed", workflow=calm, priority=20
    )
    off = rule_create(
        actor=admin_user, name="Off", event_type="flight.delayed", workflow=urgent, priority=1
    )
    rule_update(actor=admin_user, rule=off, is_active=False)
    rule_create(actor=admin_user, name="Retired", event_type="flight.delayed", workflow=retired)
    workflow_update(actor=admin_user, workflow=retired, is_active=False)
    rule_create(actor=admin_user, name="Other type", event_type="maintenance.due", workflow=calm)

    rules = rules_for("flight.delayed")

    assert [r.pk for r in rules] == [first.pk, second.pk, third.pk]
    assert [r.uses_customer for r in rules] == [False, True, False]
    assert rules[2].program is None
    event = _event({"delay_minutes": 30})
    assert rule_workflow(rules, event=event, customer=PASSENGER) == calm.pk
    assert rule_workflow(rules, event=_event({"delay_minutes": 300}), customer=None) == urgent.pk
