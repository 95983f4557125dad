"""Rule validation: the JSON Schema and the semantic checks, with JSON paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from rules.catalog import catalog_for
from rules.validation import SCHEMA, validate_definition
from tests.spec_examples import SPEC_EXAMPLE_RULE

CATALOG = catalog_for({"triggers": {"app_installed": {"fields": {"event.store": "string"}}}})
EXAMPLE = SPEC_EXAMPLE_RULE


def errors_of(definition):
    return validate_definition(definition, catalog=CATALOG)


def with_conditions(*leaves, trigger="purchase"):
    definition = copy.deepcopy(EXAMPLE)
    definition["trigger"] = trigger
    definition["conditions"] = {"operator": "AND", "conditions": list(leaves)}
    return definition


def with_action(kind, **params):
    definition = copy.deepcopy(EXAMPLE)
    definition["trigger"] = "purchase"
    definition["actions"] = [{"type": kind, "params": params}]
    return definition


def test_schema_is_draft_2020_12():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_spec_example_is_valid():
    assert errors_of(EXAMPLE) == []


def test_full_featured_rule_is_valid():
    definition = {
        "name": "Commission",
        "description": "two-level",
        "trigger": "purchase",
        "priority": 5,
        "stop_processing": True,
        "conditions": {
            "operator": "OR",
            "conditions": [
                {
                    "operator": "NOT",
                    "conditions": [
                        {"field": "referred.country", "operator": "in", "value": ["XX", "YY"]}
                    ],
                },
                {
                    "operator": "AND",
                    "conditions": [
                        {"field": "event.amount", "operator": "between", "value": [100, 5000.5]},
                        {
                            "field": "referred.joined_at",
                            "operator": "within_last_days",
                            "value": 30,
                        },
                        {"field": "referrer.custom_score", "operator": "greater_than", "value": 3},
                        {"field": "referrer.tags", "operator": "contains", "value": "vip"},
                        {"field": "referred.email", "operator": "ends_with", "value": ".io"},
                        {"field": "parent.id", "operator": "exists"},
                        {
                            "field": "event.occurred_at",
                            "operator": "greater_than",
                            "value": "2025-01-01T00:00:00Z",
                        },
                    ],
                },
            ],
        },
        "actions": [
            {
                "type": "percent_commission",
                "params": {
                    "of": "event.amount",
                    "rate_bps": 1000,
                    "reward_type": "cash",
                    "cap": 100000,
                },
            },
            {
                "type": "percent_commission",
                "params": {"beneficiary": "parent", "of": "event.amount", "reward_type": "cash"},
            },
            {
                "type": "award_credits",
                "params": {"beneficiary": "referred", "operation": "SIGNUP_CREDIT"},
            },
        ],
        "limits": {
            "per_beneficiary": {"max_rewards": 3, "max_amount": 500000, "period": "month"},
            "budget": {"max_amount": 10_000_000},
        },
    }
    assert errors_of(definition) == []


@pytest.mark.parametrize(
    ("definition", "path", "fragment"),
    [
        ({**EXAMPLE, "trigger": "birthday"}, "$.trigger", "unknown trigger"),
        ({**EXAMPLE, "extra": 1}, "$", "Additional properties"),
        ({k: v for k, v in EXAMPLE.items() if k != "name"}, "$", "'name' is a required property"),
        ({**EXAMPLE, "priority": "high"}, "$.priority", "not of type 'integer'"),
        ({**EXAMPLE, "priority": 10.0}, "$.priority", "must be an integer"),
        ({**EXAMPLE, "actions": []}, "$.actions", "should be non-empty"),
    ],
)
def test_top_level_errors(definition, path, fragment):
    errors = errors_of(definition)
    assert any(e["path"] == path and fragment in e["message"] for e in errors), errors


@pytest.mark.parametrize(
    ("leaf", "path", "fragment"),
    [
        ({"field": "event.amount", "operator": "like", "value": 1}, ".operator", "is not one of"),
        ({"field": "event.amount", "operator": "equals"}, "", "'value' is a required property"),
        ({"field": "event.amount", "operator": "exists", "value": 1}, ".value", "take no value"),
        ({"field": "amount", "operator": "equals", "value": 1}, ".field", "does not match"),
        (
            {"field": "event.colour", "operator": "equals", "value": "red"},
            ".field",
            "unknown field 'event.colour' for trigger 'purchase'",
        ),
        (
            {"field": "referrer.is_paid_user", "operator": "greater_than", "value": 1},
            ".operator",
            "does not apply to boolean field",
        ),
        (
            {"field": "event.amount", "operator": "starts_with", "value": "1"},
            ".operator",
            "does not apply to number field",
        ),
        (
            {"field": "referrer.tags", "operator": "equals", "value": "vip"},
            ".operator",
            "does not apply to list field",
        ),
        ({"field": "event.amount", "operator": "equals", "value": "100"}, ".value", "a number"),
        (
            {"field": "event.amount", "operator": "greater_than", "value": True},
            ".value",
            "a number",
        ),
        ({"field": "event.quantity", "operator": "equals", "value": 1.5}, ".value", "an integer"),
        (
            {"field": "referrer.is_paid_user", "operator": "equals", "value": "yes"},
            ".value",
            "true or false",
        ),
        ({"field": "event.amount", "operator": "between", "value": [10]}, ".value", "[low, high]"),
        (
            {"field": "event.amount", "operator": "between", "value": [10, 5]},
            ".value",
            "low <= high",
        ),
        (
            {"field": "event.amount", "operator": "between", "value": [1, "2025-01-01T00:00:00Z"]},
            ".value",
            "two numbers or two RFC 3339",
        ),
        ({"field": "event.currency", "operator": "in", "value": "INR"}, ".value", "non-empty list"),
        ({"field": "event.currency", "operator": "in", "value": []}, ".value", "non-empty list"),
        (
            {"field": "event.currency", "operator": "in", "value": ["INR", 5]},
            ".value[1]",
            "a string",
        ),
        ({"field": "event.product", "operator": "contains", "value": 5}, ".value", "a string"),
        (
            {"field": "referred.nickname", "operator": "starts_with", "value": 5},
            ".value",
            "a string",
        ),
        (
            {"field": "event.amount", "operator": "within_last_days", "value": 3},
            ".operator",
            "does not apply to number field",
        ),
        (
            {"field": "referred.joined_at", "operator": "within_last_days", "value": 0},
            ".value",
            "positive number",
        ),
        (
            {"field": "referred.joined_at", "operator": "within_last_days", "value": "7"},
            ".value",
            "positive number",
        ),
        (
            {"field": "referred.joined_at", "operator": "greater_than", "value": "yesterday"},
            ".value",
            "RFC 3339",
        ),
        (
            {"field": "referred.score", "operator": "less_than", "value": "x"},
            ".value",
            "a number or an RFC 3339",
        ),
        (
            {"field": "referred.score", "operator": "equals", "value": {"a": 1}},
            ".value",
            "JSON scalar",
        ),
    ],
)
def test_leaf_errors_carry_json_paths(leaf, path, fragment):
    ok = {"field": "event.amount", "operator": "greater_than", "value": 1}
    errors = errors_of(with_conditions(ok, leaf))
    assert any(
        e["path"] == "$.conditions.conditions[1]" + path and fragment in e["message"]
        for e in errors
    ), errors


def test_nested_paths_and_not_arity():
    definition = with_conditions(
        {
            "operator": "OR",
            "conditions": [
                {"field": "event.amount", "operator": "greater_than", "value": 1},
                {
                    "operator": "NOT",
                    "conditions": [{"field": "event.amount", "operator": "bogus", "value": 1}],
                },
            ],
        }
    )
    assert errors_of(definition)[0]["path"] == (
        "$.conditions.conditions[0].conditions[1].conditions[0].operator"
    )
    two = with_conditions(
        {
            "operator": "NOT",
            "conditions": [
                {"field": "event.amount", "operator": "exists"},
                {"field": "event.amount", "operator": "exists"},
            ],
        }
    )
    assert errors_of(two)[0]["path"] == "$.conditions.conditions[0].conditions"
    assert "too long" in errors_of(two)[0]["message"]


def test_custom_trigger_and_fields():
    assert (
        errors_of(
            with_conditions(
                {"field": "event.store", "operator": "equals", "value": "play"},
                trigger="app_installed",
            )
        )
        == []
    )
    assert (
        errors_of(
            with_conditions(
                {"field": "event.store", "operator": "equals", "value": 1}, trigger="app_installed"
            )
        )[0]["path"]
        == "$.conditions.conditions[0].value"
    )


@pytest.mark.parametrize(
    ("kind", "params", "path", "fragment"),
    [
        (
            "credit_reward",
            {"amount": 0, "currency": "INR", "reward_type": "cash"},
            ".amount",
            "minimum",
        ),
        (
            "credit_reward",
            {"amount": 500.0, "currency": "INR", "reward_type": "cash"},
            ".amount",
            "must be an integer",
        ),
        (
            "credit_reward",
            {"amount": "500", "currency": "INR", "reward_type": "cash"},
            ".amount",
            "not of type",
        ),
        (
            "credit_reward",
            {"amount": 5, "currency": "RUPEE", "reward_type": "cash"},
            ".currency",
            "does not match",
        ),
        (
            "credit_reward",
            {"amount": 5, "currency": "INR", "reward_type": "gold"},
            ".reward_type",
            "is not one of",
        ),
        (
            "credit_reward",
            {"amount": 5, "currency": "INR", "reward_type": "cash", "beneficiary": "friend"},
            ".beneficiary",
            "is not one of",
        ),
        ("credit_reward", {"amount": 5, "currency": "INR"}, "", "'reward_type' is a required"),
        (
            "percent_commission",
            {"of": "event.amount", "reward_type": "cash", "rate_bps": 10001},
            ".rate_bps",
            "maximum",
        ),
        (
            "percent_commission",
            {"of": "event.amount", "reward_type": "cash", "rate_bps": 0},
            ".rate_bps",
            "minimum",
        ),
        (
            "percent_commission",
            {"of": "event.product", "reward_type": "cash"},
            ".of",
            "not a number",
        ),
        (
            "percent_commission",
            {"of": "event.total", "reward_type": "cash"},
            ".of",
            "unknown field",
        ),
        (
            "percent_commission",
            {"of": "event.amount", "reward_type": "cash", "cap": -5},
            ".cap",
            "minimum",
        ),
        ("award_credits", {"amount": 5}, "", "'operation' is a required"),
        (
            "award_credits",
            {"operation": "CREDIT_ADD", "amount": 2.0},
            ".amount",
            "must be an integer",
        ),
    ],
)
def test_action_errors(kind, params, path, fragment):
    errors = errors_of(with_action(kind, **params))
    assert any(
        e["path"] == "$.actions[0].params" + path and fragment in e["message"] for e in errors
    ), errors


@pytest.mark.parametrize(
    ("limits", "path"),
    [
        ({"per_beneficiary": {"period": "month"}}, "$.limits.per_beneficiary"),
        ({"per_beneficiary": {"max_rewards": 0}}, "$.limits.per_beneficiary.max_rewards"),
        (
            {"per_beneficiary": {"max_rewards": 1, "period": "year"}},
            "$.limits.per_beneficiary.period",
        ),
        ({"budget": {}}, "$.limits.budget"),
        ({"budget": {"max_amount": 10.0}}, "$.limits.budget.max_amount"),
        ({}, "$.limits"),
    ],
)
def test_limit_errors(limits, path):
    errors = errors_of({**EXAMPLE, "limits": limits})
    assert path in [e["path"] for e in errors], errors


def test_not_an_object():
    assert errors_of([1, 2])[0]["path"] == "$"


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({**EXAMPLE, "priority": 10**12}, "$.priority"),
        ({**EXAMPLE, "priority": -(10**12)}, "$.priority"),
        (with_action("award_credits", operation="CREDIT_ADD", amount=2**63), ".amount"),
        (
            with_action("credit_reward", amount=10**15 + 1, currency="INR", reward_type="cash"),
            ".amount",
        ),
        ({**EXAMPLE, "limits": {"budget": {"max_amount": 2**63}}}, "$.limits.budget.max_amount"),
        (
            {**EXAMPLE, "limits": {"per_beneficiary": {"max_rewards": 2**31}}},
            "$.limits.per_beneficiary.max_rewards",
        ),
    ],
)
def test_values_beyond_what_storage_and_processing_take_are_invalid(definition, path):
    """These passed validation, then broke publishing (int4 priority) or processing."""
    paths = [e["path"] for e in errors_of(definition)]
    assert any(p == path or p == "$.actions[0].params" + path for p in paths), paths


def test_within_last_days_is_bounded_and_the_rule_compiles():
    leaf = {"field": "referred.joined_at", "operator": "within_last_days", "value": 1e10}
    errors = errors_of(with_conditions(leaf))
    assert errors and "at most 36500" in errors[0]["message"], errors
    assert errors_of(with_conditions({**leaf, "value": 36500})) == []


def test_a_definition_that_does_not_compile_is_invalid(monkeypatch):
    from rules import validation

    def broken(definition):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(validation, "compile_rule", broken)
    errors = errors_of(EXAMPLE)
    assert errors == [
        {"path": "$.conditions", "message": "does not compile: date value out of range"}
    ]


def nested_groups(depth):
    node: dict[str, Any] = {"field": "referred.country", "operator": "equals", "value": "IN"}
    for _ in range(depth):
        node = {"operator": "AND", "conditions": [node]}
    return {**EXAMPLE, "conditions": node}


def test_deep_nesting_is_refused_before_the_schema_recurses():
    errors = errors_of(nested_groups(1000))
    assert len(errors) == 1 and "at most 32" in errors[0]["message"], errors
    assert errors[0]["path"] == "$.conditions" + ".conditions[0]" * 32
    assert errors_of(nested_groups(32)) == []
    value: object = "x"
    for _ in range(200):
        value = [value]
    errors = errors_of(
        with_conditions({"field": "referred.country", "operator": "in", "value": value})
    )
    assert "nested more than 100 levels" in errors[0]["message"], errors


def test_action_params_are_checked_against_the_program():
    reward = with_action("credit_reward", amount=500, currency="USD", reward_type="cash")
    errors = validate_definition(reward, catalog=CATALOG, currency="INR", operations=set())
    assert [e["path"] for e in errors] == ["$.actions[0].params.currency"]
    assert "INR" in errors[0]["message"]
    credits = with_action("award_credits", operation="CONTENT_CREATION")
    errors = validate_definition(
        credits, catalog=CATALOG, currency="INR", operations={"CREDIT_ADD", "DAILY_REWARD"}
    )
    assert [e["path"] for e in errors] == ["$.actions[0].params.operation"]
    # Without the program context (e.g. drafting from text) only the shape is checked.
    assert errors_of(reward) == [] and errors_of(credits) == []
