"""The compact trace events store (Evaluation.stored_trace) expands back, against the rule's
definition alone, to exactly the list of dicts the trace reads as (expand_trace), on random
rules and facts, whichever generated path recorded it; and the readers of Event.results show
the same thing for both stored forms."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings

from rules.engine import compile_rule, compile_ruleset
from rules.engine.trace import Evaluation, expand_trace, is_compact_trace

from .test_engine_traced import _strict, conditions, definitions, facts, leaf


def _roundtrip(value: Any) -> Any:
    """What a JSON column gives back (the facts here hold no datetime inside an object)."""
    return json.loads(json.dumps(value, default=str))


def assert_expands(definition: dict[str, Any], evaluation: Evaluation) -> None:
    stored: Any = evaluation.stored_trace()
    assert is_compact_trace(stored)
    assert set(stored) == {"v", "r", "a"}
    assert all(r is True or r is False for r in stored["r"])
    want = evaluation.trace
    got = expand_trace(definition, stored)
    assert [_strict(step) for step in got] == [_strict(step) for step in want]
    for mine, reference in zip(got, want, strict=True):
        assert mine["result"] is reference["result"]
    # Through the database's JSON: the same as the dict trace through it.
    assert _roundtrip(expand_trace(definition, _roundtrip(stored))) == _roundtrip(want)


@settings(max_examples=300, deadline=None)
@given(definitions, facts())
def test_expanding_the_stored_trace_gives_the_dict_trace(defs, fact):
    ruleset = compile_ruleset(defs).evaluate(fact)
    for i, definition in enumerate(defs):
        assert_expands(definition, ruleset[i])
        assert_expands(definition, compile_rule(definition).evaluate(fact))
        # Both paths store the same record for a rule.
        assert _strict(ruleset[i].stored_trace()) == _strict(
            compile_rule(definition).evaluate(fact).stored_trace()
        )


@settings(max_examples=100, deadline=None)
@given(conditions, facts())
def test_a_rule_repeated_in_a_ruleset_stores_its_own_record(condition, fact):
    definition = {"name": "r", "conditions": condition}
    other = {"name": "o", "conditions": {"operator": "NOT", "conditions": [condition]}}
    evaluation = compile_ruleset([other, definition, definition]).evaluate(fact)
    for i, d in ((0, other), (1, definition), (2, definition)):
        assert_expands(d, evaluation[i])


def test_the_stored_form_is_small_and_reading_the_trace_does_not_change_it():
    definition = {
        "conditions": {
            "operator": "AND",
            "conditions": [
                leaf("event.plan", "equals", "gold"),
                {
                    "operator": "OR",
                    "conditions": [
                        leaf("event.when", "exists"),
                        leaf("event.plan", "equals", "gold"),
                    ],
                },
            ],
        }
    }
    from datetime import UTC, datetime

    evaluation = compile_rule(definition).evaluate(
        {"event": {"plan": "silver", "when": datetime(2026, 1, 2, tzinfo=UTC)}}
    )
    stored: Any = evaluation.stored_trace()
    # One outcome per distinct leaf, one value per distinct field; datetimes as RFC 3339.
    assert stored == {"v": 1, "r": [False, True], "a": ["silver", "2026-01-02T00:00:00+00:00"]}
    trace = evaluation.trace
    assert [step["result"] for step in trace] == [False, None, None]
    assert evaluation.stored_trace() == stored
    assert expand_trace(definition, stored) == trace


def test_expand_reads_the_old_form_and_never_raises_on_damage():
    definition = {"conditions": leaf("event.plan", "equals", "gold")}
    old = [{"path": "$.conditions", "field": "event.plan", "result": False}]
    assert expand_trace(definition, old) is old
    good = compile_rule(definition).evaluate({"event": {"plan": "x"}}).stored_trace()
    assert expand_trace(definition, good)[0]["actual"] == "x"
    for damaged in (
        None,
        5,
        "x",
        {},
        {"v": 2, "r": [True], "a": ["x"]},
        {"v": 1, "r": [True, False], "a": ["x"]},  # more outcomes than leaves
        {"v": 1, "r": [True], "a": []},
        {"v": 1, "r": "T", "a": ["x"]},
    ):
        assert expand_trace(definition, damaged) == []
    bad_definition: Any
    for bad_definition in (None, [], {"conditions": 5}, {"conditions": {"operator": "XOR"}}):
        assert expand_trace(bad_definition, good) == []
    # A stored outcome that is not a boolean reads as false, never as its truthiness.
    assert expand_trace(definition, {"v": 1, "r": [1], "a": ["gold"]})[0]["result"] is False


def test_a_hand_built_evaluation_stores_its_dicts():
    trace = [{"path": "$.conditions", "result": True}]
    assert Evaluation(True, trace).stored_trace() == trace
