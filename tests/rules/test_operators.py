"""rules/engine/operators.py where mutation testing found it unchecked: path steps through a
mapping that is not a plain dict (the generated fast path hands those to `step`), and through
values that are not mappings at all. All three evaluators must agree."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from rules.engine import MISSING, compile_rule, compile_ruleset, resolve
from rules.engine.operators import step
from rules.engine.trace import evaluate_traced

OCCURRED = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def _matches(referred, operator: str, value=None) -> bool:
    node = {"field": "referred.profile.plan", "operator": operator}
    if operator not in ("exists", "not_exists"):
        node["value"] = value
    definition = {
        "name": "t",
        "trigger": "purchase",
        "priority": 0,
        "conditions": {"operator": "AND", "conditions": [node]},
        "actions": [],
    }
    facts = {"event": {"occurred_at": OCCURRED}, "referred": referred}
    compiled = compile_rule(definition)
    fast = compile_ruleset([definition]).matching(facts) == [0]
    traced = compiled.evaluate(facts)
    assert compiled.matches(facts) is fast is traced.matched
    assert evaluate_traced(compiled.tree, facts) == traced
    return fast


PROXY = MappingProxyType


@pytest.mark.parametrize(
    ("referred", "operator", "value", "expected"),
    [
        (PROXY({"profile": PROXY({"plan": "gold"})}), "equals", "gold", True),
        (PROXY({"profile": PROXY({"plan": "gold"})}), "equals", "basic", False),
        (PROXY({"profile": PROXY({"plan": "gold"})}), "exists", None, True),
        (PROXY({"profile": PROXY({"plan": None})}), "exists", None, True),  # null is a value
        (PROXY({"profile": PROXY({})}), "exists", None, False),
        (PROXY({"profile": PROXY({})}), "not_exists", None, True),
        (PROXY({"profile": PROXY({"tier": "gold"})}), "equals", "gold", False),
        (PROXY({}), "not_exists", None, True),
        ({"profile": ["plan"]}, "exists", None, False),  # a list has no keys
        ({"profile": "plan"}, "not_exists", None, True),  # nor has a string
        ({"profile": None}, "not_exists", None, True),
    ],
)
def test_paths_through_other_mappings_and_non_mappings(referred, operator, value, expected):
    assert _matches(referred, operator, value) is expected


def test_step_and_resolve_tell_missing_from_null():
    proxy = PROXY({"plan": None, "tier": "gold"})
    assert step(proxy, "plan") is None
    assert step(proxy, "tier") == "gold"
    assert step(proxy, "absent") is MISSING
    assert step(["plan"], "plan") is MISSING
    assert step(None, "plan") is MISSING
    assert resolve({"a": proxy}, "a.plan") is None
    assert resolve({"a": proxy}, "a.absent") is MISSING
    assert resolve({"a": proxy}, "a.tier.deeper") is MISSING


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    [
        ([1, 2], [1, 2], True),
        ([1, 2.0], [1.0, 2], True),  # int and float compare, inside lists too
        ([1, True], [1, 1], False),  # but a bool is not a number, however deep
        ([[True]], [[1]], False),
        ([1, 2], [1, 2, 3], False),
        ({"a": True}, {"a": 1}, False),
        ({"a": [1]}, {"a": [1.0]}, True),
        ({"a": 1}, {"b": 1}, False),
    ],
)
def test_equality_of_lists_and_objects_is_strict_at_every_depth(value, actual, expected):
    referred = {"profile": {"plan": actual}}
    assert _matches(referred, "equals", value) is expected


def _leaf(operator: str, value, actual) -> bool:
    """The leaf on referred.profile.plan = actual (MISSING: absent), through all evaluators."""
    profile = {} if actual is MISSING else {"plan": actual}
    return _matches({"profile": profile}, operator, value)


@pytest.mark.parametrize(
    ("operator", "value", "actual", "expected"),
    [
        # between is inclusive at both ends
        ("between", [10, 20], 9, False),
        ("between", [10, 20], 10, True),
        ("between", [10, 20], 20, True),
        ("between", [10, 20], 21, False),
        ("between", [10, 20], 10.5, True),
        # within_last_days: [occurred_at - N days, occurred_at]
        ("within_last_days", 3, "2025-03-07T12:00:00Z", True),  # exactly 3 days before
        ("within_last_days", 3, "2025-03-07T11:59:59.999999Z", False),
        ("within_last_days", 3, "2025-03-10T12:00:00Z", True),  # the event's own time
        ("within_last_days", 3, "2025-03-10T12:00:00.000001Z", False),  # the future
        ("within_last_days", 0, "2025-03-10T12:00:00Z", False),  # 0 days is not a span
        ("within_last_days", 36_500, "2025-03-09T12:00:00Z", True),  # the longest span
        ("within_last_days", 36_501, "2025-03-09T12:00:00Z", False),  # beyond it: never
        # text operators
        ("starts_with", "ab", "abc", True),
        ("starts_with", "ab", "xabc", False),
        ("ends_with", "bc", "abc", True),
        ("ends_with", "bc", "bca", False),
        ("contains", "b", "abc", True),
        ("contains", "z", "abc", False),
        ("not_contains", "b", "abc", False),
        ("not_contains", "z", "abc", True),
        # a timestamp without an offset is not a time: a type mismatch, never a crash
        ("greater_than", "2025-01-01T00:00:00Z", "2025-03-10T12:00:00", False),
        ("less_than", "2025-12-01T00:00:00Z", "2025-03-10T12:00:00", False),
        ("within_last_days", 3, "2025-03-09T12:00:00", False),
        ("greater_than", "2025-01-01T00:00:00Z", "2025-03-10T12:00:00Z", True),
    ],
)
def test_leaf_boundaries(operator, value, actual, expected):
    assert _leaf(operator, value, actual) is expected
