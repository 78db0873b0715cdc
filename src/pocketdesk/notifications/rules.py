"""Alert rule conditions: CEL (cel-python) over `event`, `payload` and `customer`, checked when a
rule is saved and compiled once per fan-out; the first active rule of a type that holds picks
the workflow.

The names a condition sees:
- `event`: {"type", "payload", "critical"}
- `payload`: the event's payload (JSON: maps, lists, ints, doubles, bools, strings, null)
- `customer`: {"id", "language", "time_zone", "channels": [contact kinds],
  "consents": {purpose: bool}} as the fan-out passes it

CEL does not compare an int with a double (`payload.delay > 30` fails when the payload says
30.5): compare doubles with doubles (`payload.delay > 30.0`) or convert (`int(payload.delay)`).
A condition whose evaluation fails (a missing key, a type error) does not hold.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import celpy
import lark
import lark.exceptions
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import base_functions

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.notifications.models import AlertRule, Event

logger = logging.getLogger(__name__)

CONDITION_MAX = 2000
NAMES = frozenset({"event", "payload", "customer"})
# Macros bind a variable for their second argument: payload.items.exists(i, i.qty > 2).
_BINDING_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_FUNCTIONS = frozenset({name for name in base_functions if name.isidentifier()} | {"has", "dyn"})

# The interpreted runner: the compiled (transpiling) runner of cel-python 0.5 keeps the
# activation in a module global while it evaluates, so two threads would see each other's
# variables; and its parser needs another tree class than the shared parser singleton has.
_environment = celpy.Environment()


class _RefusedError(Exception):
    """Why a parsed condition is refused (a name or function it may not use)."""


def _token(tree: lark.Tree, index: int = 0) -> str:
    return str(tree.children[index])


def _names_check(node: Any, bound: frozenset[str]) -> bool:
    """Walk the parsed condition; raise _RefusedError for a name outside NAMES (and the macro
    variables in scope) or an unknown function. True when it reads `customer`."""
    if not isinstance(node, lark.Tree):
        return False
    kind = node.data
    if kind == "ident":
        name = _token(node)
        if name not in NAMES and name not in bound:
            raise _RefusedError(
                f"unknown name {name!r} (a condition reads event, payload and customer)"
            )
        return name == "customer"
    if kind in ("dot_ident", "dot_ident_arg", "member_object"):
        raise _RefusedError("qualified names and message literals are not supported")
    if kind == "ident_arg":
        name = _token(node)
        if name not in _FUNCTIONS:
            raise _RefusedError(f"unknown function {name!r}")
        return _all_checked(node.children[1:], bound)
    if kind == "member_dot_arg":
        target, method = node.children[0], _token(node, 1)
        args = node.children[2].children if len(node.children) > 2 else []
        uses = _names_check(target, bound)
        if method in _BINDING_MACROS:
            variable = _macro_variable(args[0]) if len(args) == 2 else None
            if variable is None:
                raise _RefusedError(f"{method}() takes a variable name and an expression")
            return _names_check(args[1], bound | {variable}) or uses
        if method not in _FUNCTIONS:
            raise _RefusedError(f"unknown function {method!r}")
        return _all_checked(args, bound) or uses
    if kind == "member_dot":
        return _names_check(node.children[0], bound)
    return _all_checked(node.children, bound)


def _all_checked(nodes: Sequence[Any], bound: frozenset[str]) -> bool:
    """Check every node (no short cut: each may hold a refused name); True when one reads
    `customer`."""
    uses = False
    for node in nodes:
        uses = _names_check(node, bound) or uses
    return uses


def _macro_variable(expr: Any) -> str | None:
    """The bare identifier a macro's first argument is, or None."""
    node = expr
    while isinstance(node, lark.Tree) and node.data != "ident":
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return _token(node) if isinstance(node, lark.Tree) else None


def _compile(source: str) -> tuple[celpy.Runner, bool]:
    """The program for a condition and whether it reads `customer`; ValidationFailed when it
    does not parse or reads other names."""
    if len(source) > CONDITION_MAX:
        raise _invalid(f"A condition is at most {CONDITION_MAX} characters.")
    try:
        ast = _environment.compile(source)
    except celpy.CELParseError as error:
        raise _invalid(_parse_reason(error)) from error
    except RecursionError as error:
        raise _invalid("The condition is nested too deeply.") from error
    try:
        uses_customer = _names_check(ast, frozenset())
    except _RefusedError as reason:
        raise _invalid(f"The condition cannot be used: {reason}.") from reason
    return _environment.program(ast), uses_customer


def _parse_reason(error: celpy.CELParseError) -> str:
    """The parser's reason in words: what it met, where, and the line with a caret under it."""
    cause = error.__context__
    if isinstance(cause, lark.exceptions.UnexpectedToken):
        token = cause.token
        what = "it ends too early" if token.type == "$END" else f"unexpected {str(token)!r}"
    elif isinstance(cause, lark.exceptions.UnexpectedCharacters):
        what = f"unexpected character {cause.char!r}"
    else:
        what = "syntax error"
    where = f" at line {error.line}, column {error.column}" if error.line else ""
    pointer = "\n".join(str(error.args[0]).splitlines()[:2]) if error.args else ""
    return f"The condition does not parse: {what}{where}.\n{pointer}".rstrip()


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="condition", code="invalid_condition")


def rule_condition_check(source: str) -> str:
    """The condition, stripped, when it compiles and reads only event, payload and customer;
    otherwise ValidationFailed (422 `invalid_condition`) with the parser's reason."""
    if not isinstance(source, str):
        raise _invalid("A condition is a CEL expression (text).")
    source = source.strip()
    if source:
        _compile(source)
    return source


@dataclass
class CompiledRule:
    pk: int
    workflow_id: int
    priority: int
    program: celpy.Runner | None  # None: no condition, always holds
    uses_customer: bool


def rules_for(event_type: str) -> list[CompiledRule]:
    """The active rules of an event type, by priority then pk, each compiled once. A stored
    condition that no longer compiles (cel-python upgraded) is logged and never holds."""
    compiled: list[CompiledRule] = []
    rows = (
        AlertRule.objects.filter(event_type=event_type, is_active=True, workflow__is_active=True)
        .order_by("priority", "pk")
        .values_list("pk", "workflow_id", "priority", "condition")
    )
    for pk, workflow_id, priority, condition in rows:
        source = (condition or "").strip()
        program, uses_customer = None, False
        if source:
            try:
                program, uses_customer = _compile(source)
            except ValidationFailed as error:
                logger.warning(
                    "notifications.rule.uncompilable", extra={"rule": pk, "reason": error.detail}
                )
                continue
        compiled.append(CompiledRule(pk, workflow_id, priority, program, uses_customer))
    return compiled


def _cel(value: Any) -> Any:
    """A JSON value (maps, lists, ints, floats, bools, strings, None) as CEL values; anything
    else (a set, a date) is made JSON-like first instead of failing the fan-out."""
    try:
        return json_to_cel(value)
    except (ValueError, TypeError):
        return json_to_cel(_json_like(value))


def _json_like(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _json_like(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_json_like(item) for item in value)
    if isinstance(value, (list, tuple)):
        return [_json_like(item) for item in value]
    return str(value)


def _event_cel(event: Event) -> tuple[Any, Any]:
    """(event, payload) as CEL values. The fan-out asks for one event once per recipient: the
    last event's conversion is kept (keyed by the event and payload objects themselves)."""
    global _last_event
    last = _last_event
    if last is not None and last[0] is event and last[1] is event.payload:
        return last[2], last[3]
    payload = _cel(dict(event.payload or {}))
    converted = celtypes.MapType(
        {
            celtypes.StringType("type"): celtypes.StringType(event.type),
            celtypes.StringType("payload"): payload,
            celtypes.StringType("critical"): celtypes.BoolType(bool(event.critical)),
        }
    )
    _last_event = (event, event.payload, converted, payload)
    return converted, payload


_last_event: tuple[Event, Any, Any, Any] | None = None


def rule_activation(*, event: Event, customer: Mapping[str, Any] | None) -> dict[str, Any]:
    """The variables a condition sees. Build it once and pass it to `rule_holds` when testing
    several rules against one recipient."""
    event_value, payload = _event_cel(event)
    return {"event": event_value, "payload": payload, "customer": _cel(dict(customer or {}))}


def rule_holds(rule: CompiledRule, activation: Mapping[str, Any]) -> bool:
    """Whether the rule's condition holds; an evaluation error (logged) does not hold."""
    if rule.program is None:
        return True
    try:
        result = rule.program.evaluate(dict(activation))
    except (celpy.CELEvalError, TypeError, ValueError, KeyError, ArithmeticError) as error:
        logger.info(
            "notifications.rule.eval_failed", extra={"rule": rule.pk, "reason": str(error)[:200]}
        )
        return False
    if isinstance(result, celpy.CELEvalError):
        logger.info(
            "notifications.rule.eval_failed", extra={"rule": rule.pk, "reason": str(result)[:200]}
        )
        return False
    return isinstance(result, celtypes.BoolType) and bool(result)


def rule_workflow(
    rules: Sequence[CompiledRule], *, event: Event, customer: Mapping[str, Any] | None
) -> int | None:
    """The workflow id of the first rule whose condition holds (an empty one always does), or
    None: the default workflow."""
    if not rules:
        return None
    if rules[0].program is None:
        return rules[0].workflow_id
    # Converting the customer costs about as much as a short evaluation: only when read.
    reads_customer = any(rule.uses_customer for rule in rules)
    activation = rule_activation(event=event, customer=customer if reads_customer else None)
    for rule in rules:
        if rule_holds(rule, activation):
            return rule.workflow_id
    return None
