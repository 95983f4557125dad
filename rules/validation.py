"""Rule validation: the JSON Schema (shape) and semantic checks against the catalog.

validate_definition returns a list of ``{"path", "message"}`` with JSON paths such as
``$.conditions.conditions[1].operator``; an empty list means valid. Semantic checks run
only on a definition whose shape passed the schema.

The schema is rules/schema.json with the registered actions (rules.action_registry) filled
in: the action ``type`` enum, one ``if type then params`` per action, and each action's params
schema under ``$defs.<type>``. ``rule_schema()`` assembles it (once per registry change);
``SCHEMA`` reads it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator

from config.platform.api.serializers import aware_time
from rules.action_registry import CheckContext, action_for, generation, registered
from rules.catalog import field_type
from rules.engine import compile_rule
from rules.engine.operators import LIST_TYPES, MAX_WITHIN_DAYS, is_number, parse_datetime

_BASE_SCHEMA: Final[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent / "schema.json").read_text(encoding="utf-8")
)
_assembled: dict[str, Any] = {"generation": None}


def _assemble() -> dict[str, Any]:
    schema = copy.deepcopy(_BASE_SCHEMA)
    actions = registered()
    defs: dict[str, Any] = {}
    for name, value in schema["$defs"].items():
        defs[name] = value
        if name != "action":
            continue
        value["properties"]["type"] = {"enum": [a.type for a in actions]}
        value["allOf"] = [
            {
                "if": {"properties": {"type": {"const": a.type}}},
                "then": {"properties": {"params": {"$ref": f"#/$defs/{a.type}"}}},
            }
            for a in actions
        ]
        for action in actions:
            if action.type in schema["$defs"]:
                raise ValueError(f"action type {action.type!r} is a name rules/schema.json uses")
            defs[action.type] = copy.deepcopy(action.params_schema)
    schema["$defs"] = defs
    return schema


def _current() -> dict[str, Any]:
    if _assembled["generation"] != generation():
        schema = _assemble()
        Draft202012Validator.check_schema(schema)
        _assembled.update(
            generation=generation(), schema=schema, validator=Draft202012Validator(schema)
        )
    return _assembled


def rule_schema() -> dict[str, Any]:
    """The rule format's JSON Schema with the registered actions (served at P/rules/schema;
    the language model drafts against it). Callers must not change it."""
    return _current()["schema"]


def __getattr__(name: str) -> Any:
    # SCHEMA follows the registry: it is assembled, not a constant.
    if name == "SCHEMA":
        return rule_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ANY: Final = frozenset({"exists", "not_exists"})
_ORDERING: Final = frozenset(
    {"greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal", "between"}
)
OPERATORS_BY_TYPE: Final[dict[str, frozenset[str]]] = {
    "string": _ANY
    | {
        "equals",
        "not_equals",
        "in",
        "not_in",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
    },
    "number": _ANY | _ORDERING | {"equals", "not_equals", "in", "not_in"},
    "integer": _ANY | _ORDERING | {"equals", "not_equals", "in", "not_in"},
    "boolean": _ANY | {"equals", "not_equals"},
    "datetime": _ANY | _ORDERING | {"within_last_days"},
    "list": _ANY | {"contains", "not_contains"},
}
NUMERIC_TYPES: Final = frozenset({"number", "integer"})
# Deeper nesting is no rule anyone writes, and the schema validator recurses per level.
MAX_GROUP_DEPTH: Final = 32
MAX_JSON_DEPTH: Final = 100
# A request body holding a definition: the body, the definition, two levels per condition group,
# the leaf and its list value (`in`, `between`). The API's JSON limit (64) is raised to this.
MAX_DEFINITION_BODY_DEPTH: Final = 2 * MAX_GROUP_DEPTH + 4

Error = dict[str, str]


def _is_int(value: Any) -> bool:
    return value.__class__ is int


def _is_scalar(value: Any) -> bool:
    return value is None or value.__class__ in (str, bool, int, float)


def _fits(kind: str | None, value: Any) -> bool:
    """Whether ``value`` is a valid operand for a field of catalog type ``kind``."""
    if kind is None:  # a free-form profile attribute: any JSON scalar
        return _is_scalar(value)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return is_number(value)
    if kind == "integer":
        return _is_int(value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        return parse_datetime(value) is not None
    return _is_scalar(value)  # a list field holds scalars


_EXPECTS: Final = {
    None: "a JSON scalar",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "datetime": "an RFC 3339 timestamp with a timezone",
    "list": "a string, number or boolean",
}


def _bound(kind: str | None, value: Any) -> Any:
    """An ordering operand as a comparable value, or None when it does not fit."""
    if kind in NUMERIC_TYPES or kind is None:
        if is_number(value):
            return value
        if kind is not None:
            return None
    return parse_datetime(value)


def _check_value(kind: str | None, operator: str, value: Any, path: str) -> list[Error]:
    def error(message: str) -> list[Error]:
        return [{"path": f"{path}.value", "message": message}]

    if operator in ("exists", "not_exists"):
        return []
    if operator in ("equals", "not_equals"):
        return [] if _fits(kind, value) else error(f"{operator} expects {_EXPECTS[kind]}")
    if operator in ("in", "not_in"):
        if value.__class__ not in LIST_TYPES or not value:
            return error(f"{operator} expects a non-empty list")
        wrong = [i for i, item in enumerate(value) if not _fits(kind, item)]
        return [
            {"path": f"{path}.value[{i}]", "message": f"expected {_EXPECTS[kind]}"} for i in wrong
        ]
    if operator == "between":
        if value.__class__ not in LIST_TYPES or len(value) != 2:
            return error("between expects [low, high]")
        low, high = _bound(kind, value[0]), _bound(kind, value[1])
        if (
            low is None
            or high is None
            or (type(low) is not type(high) and not (is_number(low) and is_number(high)))
        ):
            return error("between expects two numbers or two RFC 3339 timestamps")
        return error("between expects low <= high") if low > high else []
    if operator in _ORDERING:
        if _bound(kind, value) is None:
            wanted = "an RFC 3339 timestamp" if kind == "datetime" else "a number"
            return error(
                f"{operator} expects {wanted}"
                if kind
                else f"{operator} expects a number or an RFC 3339 timestamp"
            )
        return []
    if operator in ("contains", "not_contains"):
        if kind == "string" and not isinstance(value, str):
            return error(f"{operator} on a string field expects a string")
        return (
            []
            if _is_scalar(value) and value is not None
            else error(f"{operator} expects a string, number or boolean")
        )
    if operator in ("starts_with", "ends_with"):
        return [] if isinstance(value, str) else error(f"{operator} expects a string")
    if operator == "within_last_days":
        if not is_number(value) or not 0 < value <= MAX_WITHIN_DAYS:
            return error(
                f"within_last_days expects a positive number of days (at most {MAX_WITHIN_DAYS})"
            )
        return []
    return []


def _check_conditions(
    node: dict[str, Any], path: str, catalog: dict[str, Any], trigger: str
) -> list[Error]:
    if "conditions" in node:
        errors: list[Error] = []
        for i, child in enumerate(node["conditions"]):
            errors += _check_conditions(child, f"{path}.conditions[{i}]", catalog, trigger)
        return errors
    field, operator = node["field"], node["operator"]
    try:
        kind = field_type(catalog, trigger, field)
    except KeyError:
        return [
            {"path": f"{path}.field", "message": f"unknown field {field!r} for trigger {trigger!r}"}
        ]
    if kind is not None and operator not in OPERATORS_BY_TYPE.get(kind, frozenset()):
        return [
            {
                "path": f"{path}.operator",
                "message": f"operator {operator!r} does not apply to {kind} field {field!r}",
            }
        ]
    return _check_value(kind, operator, node.get("value"), path)


def _check_actions(actions: list[dict[str, Any]], context: CheckContext) -> list[Error]:
    errors: list[Error] = []
    for i, action in enumerate(actions):
        action_type = action_for(action["type"])
        if action_type is not None:  # the schema admits registered types only
            errors += action_type.check(
                action["params"], path=f"$.actions[{i}].params", context=context
            )
    return errors


def _check_limits(limits: dict[str, Any]) -> list[Error]:
    errors = []
    for section, values in limits.items():
        for key, value in values.items():
            if key.startswith("max_") and not _is_int(value):
                errors.append(
                    {"path": f"$.limits.{section}.{key}", "message": f"{key} must be an integer"}
                )
    return errors


def _message(error: Any) -> str:
    if error.validator == "not" and error.validator_value == {}:
        return "exists and not_exists take no value"
    return error.message


def _too_deep(definition: Any) -> list[Error]:
    """Nesting beyond the limits, found without recursion (the input may be very deep)."""
    stack: list[tuple[Any, str, int, int]] = [(definition, "$", 1, 0)]
    while stack:
        node, path, depth, groups = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return [{"path": path, "message": f"nested more than {MAX_JSON_DEPTH} levels deep"}]
        if isinstance(node, dict):
            if path.startswith("$.conditions") and "conditions" in node:
                groups += 1
                if groups > MAX_GROUP_DEPTH:
                    return [
                        {
                            "path": path,
                            "message": f"condition groups nest at most {MAX_GROUP_DEPTH} deep",
                        }
                    ]
            stack.extend((v, f"{path}.{k}", depth + 1, groups) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", depth + 1, groups) for i, v in enumerate(node))
    return []


SCHEDULE_KEYS: Final = ("active_from", "active_until")
# The strict shape first: Python's parsers accept more (NUL, other digits, no time).
_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def schedule_time(raw: Any) -> datetime | None:
    """An ``active_from`` / ``active_until`` value as an aware UTC datetime; None when it is not
    an RFC 3339 time with a UTC offset (of less than 16 hours) inside years 1-9999."""
    if not isinstance(raw, str) or not _RFC3339.fullmatch(raw):
        return None
    return aware_time(raw)


def schedule_bounds(definition: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """A valid definition's schedule: (active_from, active_until), each None when absent. An
    event that occurred before active_from, or at or after active_until, is outside it."""
    return schedule_time(definition.get("active_from")), schedule_time(
        definition.get("active_until")
    )


def _check_schedule(definition: dict[str, Any]) -> list[Error]:
    errors: list[Error] = []
    bounds: dict[str, datetime] = {}
    for key in SCHEDULE_KEYS:
        if key not in definition:
            continue
        parsed = schedule_time(definition[key])
        if parsed is None:
            errors.append(
                {
                    "path": f"$.{key}",
                    "message": f"{key} must be an RFC 3339 time with a UTC offset, e.g. "
                    "2026-01-31T00:00:00+05:30 (a real date in years 1-9999)",
                }
            )
        else:
            bounds[key] = parsed
    if len(bounds) == 2 and bounds["active_until"] <= bounds["active_from"]:
        errors.append(
            {"path": "$.active_until", "message": "active_until must be after active_from"}
        )
    return errors


def validate_definition(
    definition: Any,
    *,
    catalog: dict[str, Any],
    currency: str | None = None,
    operations: Collection[str] | None = None,
) -> list[Error]:
    """Schema and semantic errors of a rule definition (empty when valid).

    With the program's ``currency`` and credit ``operations``, action params are checked
    against them too."""
    too_deep = _too_deep(definition)
    if too_deep:
        return too_deep
    schema_errors = sorted(
        _current()["validator"].iter_errors(definition),
        key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in e.path],
    )
    if schema_errors:
        return [{"path": error.json_path, "message": _message(error)} for error in schema_errors]
    errors: list[Error] = []
    if not definition["name"].strip():  # the schema's minLength lets "   " through
        errors.append({"path": "$.name", "message": "name must not be blank"})
    errors += _check_schedule(definition)
    if not _is_int(definition.get("priority", 0)):
        errors.append({"path": "$.priority", "message": "priority must be an integer"})
    trigger = definition["trigger"]
    if trigger not in catalog["triggers"]:
        known = ", ".join(sorted(catalog["triggers"]))
        return [
            *errors,
            {"path": "$.trigger", "message": f"unknown trigger {trigger!r} (known: {known})"},
        ]
    errors += _check_conditions(definition["conditions"], "$.conditions", catalog, trigger)
    context = CheckContext(
        catalog=catalog, trigger=trigger, currency=currency, operations=operations
    )
    errors += _check_actions(definition["actions"], context)
    errors += _check_limits(definition.get("limits") or {})
    if not errors:
        # Whatever passed the checks must also compile, or every event of the trigger fails.
        try:
            compile_rule(definition)
        except Exception as exc:
            errors.append({"path": "$.conditions", "message": f"does not compile: {exc}"})
    return errors
