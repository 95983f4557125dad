"""The rule engine: every leaf operator, missing fields, type mismatches, groups, traces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rules.engine import (
    MISSING,
    RuleCompileError,
    compile_rule,
    compile_ruleset,
    resolve,
)
from rules.engine.trace import evaluate_traced

OCCURRED = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def rule(*conditions, operator="AND", **extra):
    return {
        "name": "t",
        "trigger": "purchase",
        "priority": extra.pop("priority", 0),
        "conditions": {"operator": operator, "conditions": list(conditions)},
        "actions": [],
        **extra,
    }


def leaf(field, operator, value=None):
    node = {"field": field, "operator": operator}
    if operator not in ("exists", "not_exists"):
        node["value"] = value
    return node


def check(operator, value, actual):
    """The leaf's result on a fact, through all three evaluators (which must agree)."""
    facts = {"event": {"occurred_at": OCCURRED}, "referred": {}}
    if actual is not MISSING:
        facts["referred"]["x"] = actual
    definition = rule(leaf("referred.x", operator, value))
    compiled = compile_rule(definition)
    fast = compile_ruleset([definition]).matching(facts) == [0]
    traced = compiled.evaluate(facts)
    assert compiled.matches(facts) is fast is traced.matched
    assert evaluate_traced(compiled.tree, facts) == traced
    return fast


class Text(str):
    """A str subclass: the generated code's quick exact-str check must still count it as text."""


OPERATOR_CASES = [
    # operator, value, actual, expected
    ("equals", "premium", "premium", True),
    ("equals", "premium", "basic", False),
    ("equals", True, True, True),
    ("equals", True, 1, False),  # bool is not a number
    ("equals", 1, True, False),
    ("equals", 5, 5.0, True),  # int and float compare
    ("equals", "5", 5, False),
    ("equals", None, None, True),
    ("equals", "2025-01-01T00:00:00Z", datetime(2025, 1, 1, tzinfo=UTC), True),
    ("equals", "2025-01-01T00:00:00Z", "2025-01-01T05:30:00+05:30", True),
    ("not_equals", "premium", "basic", True),
    ("not_equals", "premium", "premium", False),
    ("not_equals", "premium", 5, False),  # a type mismatch is false, negated or not
    ("not_equals", True, False, True),
    ("not_equals", True, "yes", False),
    ("greater_than", 100, 150, True),
    ("greater_than", 100, 100, False),
    ("greater_than", 100, 100.5, True),
    ("greater_than", 100, "150", False),
    ("greater_than", 0, True, False),
    ("greater_than_or_equal", 100, 100, True),
    ("greater_than_or_equal", 100, 99.99, False),
    ("less_than", 100, 99, True),
    ("less_than", 100, 100, False),
    ("less_than", 100, None, False),
    ("less_than_or_equal", 100, 100, True),
    ("less_than_or_equal", 100, 101, False),
    ("greater_than", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", True),
    ("less_than", "2025-01-01T00:00:00Z", datetime(2024, 12, 31, tzinfo=UTC), True),
    ("less_than", "2025-01-01T00:00:00Z", "not a date", False),
    ("in", ["US", "IN"], "IN", True),
    ("in", ["US", "IN"], "GB", False),
    ("in", [1, 2], 2.0, True),
    ("in", [1, 2], True, False),
    ("in", ["US"], ["US"], False),  # a list is not a member (and never raises)
    ("in", [True, "x", 3], True, True),
    ("not_in", ["US", "IN"], "GB", True),
    ("not_in", ["US", "IN"], "US", False),
    ("not_in", ["US", "IN"], 5, False),
    ("not_in", [1, "x"], 2, True),
    ("contains", "@gmail.com", "ann@gmail.com", True),
    ("contains", "@gmail.com", "ann@yahoo.com", False),
    ("contains", "vip", ["beta", "vip"], True),
    ("contains", "vip", ["beta"], False),
    ("contains", 1, [True], False),
    ("contains", 1, [1.0, 2], True),
    ("contains", "vip", 5, False),
    ("contains", 5, "a5", False),
    ("not_contains", "vip", ["beta"], True),
    ("not_contains", "vip", ["vip"], False),
    ("not_contains", "@x", "a@y", True),
    ("not_contains", "@x", 7, False),
    ("contains", "vip", ("beta", "vip"), True),  # a tuple is a list
    ("not_contains", "vip", ("beta",), True),
    ("contains", "@x", Text("a@x"), True),
    ("not_contains", "@x", Text("a@y"), True),
    ("contains", "vip", None, False),
    ("in", ["US", "IN"], Text("IN"), True),
    ("not_in", ["US", "IN"], Text("GB"), True),
    ("not_equals", "premium", Text("basic"), True),
    ("starts_with", "ann", Text("anna"), True),
    ("starts_with", "ann", "anna", True),
    ("starts_with", "ann", "joann", False),
    ("starts_with", "1", 12, False),
    ("ends_with", ".io", "acme.io", True),
    ("ends_with", ".io", "acme.com", False),
    ("ends_with", ".io", ["acme.io"], False),
    ("between", [10, 20], 10, True),
    ("between", [10, 20], 20, True),
    ("between", [10, 20], 20.01, False),
    ("between", [10, 20], "15", False),
    ("between", ["2025-01-01T00:00:00Z", "2025-12-31T00:00:00Z"], "2025-06-01T00:00:00Z", True),
    ("between", ["2025-01-01T00:00:00Z", "2025-12-31T00:00:00Z"], "2026-06-01T00:00:00Z", False),
    ("exists", None, None, True),  # a key present with null exists
    ("exists", None, 0, True),
    ("not_exists", None, "x", False),
    ("within_last_days", 7, OCCURRED - timedelta(days=6), True),
    ("within_last_days", 7, OCCURRED - timedelta(days=7), True),
    ("within_last_days", 7, OCCURRED - timedelta(days=8), False),
    ("within_last_days", 7, OCCURRED + timedelta(minutes=1), False),  # after the event
    ("within_last_days", 7, (OCCURRED - timedelta(days=1)).isoformat(), True),
    ("within_last_days", 1.5, OCCURRED - timedelta(hours=30), True),
    ("within_last_days", 7, "yesterday", False),
    ("within_last_days", 7, datetime(2025, 3, 9), False),  # naive datetime: mismatch
]


@pytest.mark.parametrize(("operator", "value", "actual", "expected"), OPERATOR_CASES)
def test_operator(operator, value, actual, expected):
    assert check(operator, value, actual) is expected


@pytest.mark.parametrize(
    "operator",
    [
        "equals",
        "not_equals",
        "greater_than",
        "greater_than_or_equal",
        "less_than",
        "less_than_or_equal",
        "in",
        "not_in",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "between",
        "exists",
        "within_last_days",
    ],
)
def test_every_operator_is_false_on_a_missing_field(operator):
    value = {"in": ["a"], "not_in": ["a"], "between": [1, 2], "within_last_days": 3}.get(
        operator, "a"
    )
    assert check(operator, value, MISSING) is False


def test_not_exists_is_true_on_a_missing_field():
    assert check("not_exists", None, MISSING) is True


def test_missing_anywhere_on_the_path():
    definition = rule(leaf("referrer.plan.tier", "not_exists"))
    compiled = compile_rule(definition)
    facts: dict[str, Any]
    for facts in (
        {},
        {"referrer": None},
        {"referrer": {"plan": "gold"}},
        {"referrer": {"plan": {}}},
        {"referrer": []},
    ):
        assert compiled.matches(facts)
        assert compile_ruleset([definition]).matching(facts) == [0]
        assert compiled.evaluate(facts).trace[0]["actual"] is None
    assert not compiled.matches({"referrer": {"plan": {"tier": "gold"}}})
    assert resolve({"a": {"b": 0}}, "a.b") == 0
    assert resolve({"a": {"b": 0}}, "a.c") is MISSING


def test_within_last_days_without_an_event_time_is_false():
    compiled = compile_rule(rule(leaf("referred.joined_at", "within_last_days", 30)))
    assert not compiled.matches({"referred": {"joined_at": OCCURRED}})
    assert compiled.matches(
        {"referred": {"joined_at": OCCURRED}, "event": {"occurred_at": OCCURRED.isoformat()}}
    )


def test_nested_groups_and_not():
    # paid AND (plan premium OR amount > 1000) AND NOT country in [XX]
    definition = rule(
        leaf("referrer.is_paid_user", "equals", True),
        {
            "operator": "OR",
            "conditions": [
                leaf("referred.subscription_plan", "equals", "premium"),
                leaf("event.amount", "greater_than", 1000),
            ],
        },
        {"operator": "NOT", "conditions": [leaf("referred.country", "in", ["XX"])]},
    )
    compiled = compile_rule(definition)

    def facts(paid=True, plan="basic", amount=0, country="IN"):
        return {
            "event": {"amount": amount},
            "referrer": {"is_paid_user": paid},
            "referred": {"subscription_plan": plan, "country": country},
        }

    assert compiled.matches(facts(plan="premium"))
    assert compiled.matches(facts(amount=1001))
    assert not compiled.matches(facts())
    assert not compiled.matches(facts(paid=False, plan="premium"))
    assert not compiled.matches(facts(plan="premium", country="XX"))
    # NOT of a missing field's leaf: the leaf is false, so NOT is true
    assert compiled.matches(
        {k: v for k, v in facts(plan="premium").items()}
        | {"referred": {"subscription_plan": "premium"}}
    )


def test_empty_groups():
    assert compile_rule(rule()).matches({})
    assert not compile_rule(rule(operator="OR")).matches({})
    assert compile_rule({"name": "x", "trigger": "signup", "actions": []}).matches({})


def test_trace_lists_every_leaf_with_null_for_short_circuited_ones():
    definition = rule(
        leaf("referrer.is_paid_user", "equals", True),
        {
            "operator": "OR",
            "conditions": [
                leaf("referred.plan", "equals", "premium"),
                leaf("referred.joined_at", "exists"),
            ],
        },
    )
    facts: dict[str, dict[str, Any]] = {
        "referrer": {"is_paid_user": False},
        "referred": {"plan": "premium", "joined_at": datetime(2025, 1, 1, tzinfo=UTC)},
    }
    evaluation = compile_rule(definition).evaluate(facts)
    assert evaluation.matched is False
    assert evaluation.trace == [
        {
            "path": "$.conditions.conditions[0]",
            "field": "referrer.is_paid_user",
            "operator": "equals",
            "expected": True,
            "actual": False,
            "result": False,
        },
        {
            "path": "$.conditions.conditions[1].conditions[0]",
            "field": "referred.plan",
            "operator": "equals",
            "expected": "premium",
            "actual": "premium",
            "result": None,
        },
        {
            "path": "$.conditions.conditions[1].conditions[1]",
            "field": "referred.joined_at",
            "operator": "exists",
            "expected": None,
            "actual": "2025-01-01T00:00:00+00:00",
            "result": None,
        },
    ]
    facts["referrer"]["is_paid_user"] = True
    evaluation = compile_rule(definition).evaluate(facts)
    assert evaluation.matched is True
    assert [entry["result"] for entry in evaluation.trace] == [True, True, None]


def test_trace_shows_missing_as_null():
    evaluation = compile_rule(rule(leaf("referrer.tier", "equals", "gold"))).evaluate({})
    assert evaluation.trace[0]["actual"] is None
    assert evaluation.trace[0]["result"] is False


def test_compile_is_cached_on_canonical_json():
    a: dict[str, Any] = {
        "name": "x",
        "trigger": "purchase",
        "conditions": {
            "operator": "AND",
            "conditions": [{"field": "event.amount", "operator": "greater_than", "value": 5}],
        },
        "actions": [],
    }
    b = {
        "actions": [],
        "conditions": {
            "conditions": [{"value": 5, "operator": "greater_than", "field": "event.amount"}],
            "operator": "AND",
        },
        "trigger": "purchase",
        "name": "x",
    }
    assert compile_rule(a) is compile_rule(b)
    assert compile_ruleset([a, b]) is compile_ruleset([b, a])
    # the cached rule does not follow later changes to the caller's dict
    a["conditions"]["conditions"][0]["value"] = 500
    assert compile_rule(b).matches({"event": {"amount": 10}})
    assert not compile_rule(a).matches({"event": {"amount": 10}})


@pytest.mark.parametrize(
    "conditions",
    [
        {"operator": "XOR", "conditions": []},
        {"operator": "NOT", "conditions": []},
        {"operator": "AND", "conditions": [{"field": "a.b", "operator": "like", "value": 1}]},
        {"operator": "AND", "conditions": "nope"},
        [1],
    ],
)
def test_malformed_conditions_do_not_compile(conditions):
    with pytest.raises(RuleCompileError):
        compile_rule({"name": "x", "conditions": conditions})


def test_strings_from_rules_never_become_code():
    hostile = "x') or __import__('os').system('echo pwned') or ('"
    key = "x')or__import__('os')or('"  # no dot: a dot would split the path
    definition = rule(
        leaf(f"referred.{key}", "equals", hostile),
        leaf("referred.y", "starts_with", '"""\n'),
        leaf("referred.z", "in", [hostile, "\\"]),
    )
    ruleset = compile_ruleset([definition])
    assert "import" not in ruleset.source and "os" not in ruleset.source
    facts = {"referred": {key: hostile, "y": '"""\nabc', "z": "\\"}}
    assert ruleset.matching(facts) == [0]
    assert compile_rule(definition).matches(facts)


def test_ruleset_returns_indices_and_shares_identical_leaves():
    paid = leaf("referrer.is_paid_user", "equals", True)
    definitions = [
        rule(paid, leaf("event.amount", "greater_than", 100)),
        rule(paid),
        rule(leaf("event.amount", "greater_than", 100), paid, operator="OR"),
        rule(leaf("referrer.country", "equals", "IN")),
    ]
    ruleset = compile_ruleset(definitions)
    assert ruleset.source.count("_v") > 0 and ruleset.source.count("is True") == 1
    facts = {"referrer": {"is_paid_user": True, "country": "US"}, "event": {"amount": 50}}
    assert ruleset.matching(facts) == [1, 2]
    assert ruleset.matching({"event": {"amount": 150}}) == [2]
    assert ruleset.matching({}) == []
    assert compile_ruleset([]).matching({}) == []
    assert len(ruleset) == 4
