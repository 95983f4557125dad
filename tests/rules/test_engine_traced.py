"""The generated tracing (CompiledRuleset.evaluate, CompiledRule.evaluate) against the
tree-walking reference trace.evaluate_traced: the same match and the same trace, compared
strictly (True is not 1, a float is not an int, a skipped leaf is None and not False), on
random rulesets and facts and on hand-written cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import compile_rule, compile_ruleset
from rules.engine.compile import RulesetEvaluation
from rules.engine.operators import LEAF_OPERATORS
from rules.engine.trace import Evaluation, evaluate_traced

OCCURRED = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
# Two-level and three-level paths, so a step can meet a non-dict (type mismatch on the path)
# and a whole role can be missing.
FIELDS = ["referred.a", "referred.a.b", "referrer.c", "event.d", "event.occurred_at", "x.y"]
MOMENTS = ["2025-03-01T00:00:00Z", "2025-03-10T12:00:00+00:00", "2024-01-01T00:00:00+05:30"]

scalars = st.sampled_from([None, True, False, 0, 1, 1.0, 0.5, -2, "", "a", "ab", "1", *MOMENTS])
values = st.one_of(scalars, scalars, st.lists(scalars, max_size=3))
moments = st.sampled_from(
    [
        OCCURRED,
        OCCURRED - timedelta(days=3),
        OCCURRED - timedelta(days=40),
        OCCURRED.replace(tzinfo=None),
    ]
)
fact_values = st.recursive(
    st.one_of(scalars, moments),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2),
    ),
    max_leaves=4,
)


@st.composite
def leaves(draw):
    operator = draw(st.sampled_from(list(LEAF_OPERATORS)))
    node: dict[str, Any] = {"field": draw(st.sampled_from(FIELDS)), "operator": operator}
    if operator not in ("exists", "not_exists"):
        if operator == "between":
            node["value"] = draw(st.one_of(st.lists(scalars, min_size=2, max_size=2), values))
        elif operator == "within_last_days":
            node["value"] = draw(st.one_of(st.sampled_from([1, 5, 30, 0.5]), scalars))
        else:
            node["value"] = draw(values)
    return node


def _group(operator):
    return lambda children: {"operator": operator, "conditions": children}


conditions = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(_group("AND")),
        st.lists(children, max_size=4).map(_group("OR")),
        children.map(lambda c: {"operator": "NOT", "conditions": [c]}),
    ),
    max_leaves=10,
)
definitions = st.lists(
    st.one_of(
        conditions.map(lambda c: {"name": "r", "conditions": c}),
        st.just({"name": "no conditions"}),
    ),
    min_size=0,
    max_size=6,
)


@st.composite
def facts(draw):
    out: dict[str, Any] = {}
    for role in ("event", "referred", "referrer", "x"):
        if draw(st.integers(0, 9)) == 0:
            continue  # the whole role missing
        if draw(st.integers(0, 19)) == 0:
            out[role] = draw(fact_values)  # a role that is not an object
            continue
        section: dict[str, Any] = {}
        for name in ("a", "c", "d", "y", "occurred_at"):
            if draw(st.booleans()):
                section[name] = draw(fact_values)
        out[role] = section
    return out


def _strict(value: Any) -> Any:
    """A form where values equal only when their JSON and their Python types are equal."""
    return json.dumps(value, sort_keys=True, default=repr), repr(value)


def assert_same(got: Evaluation, want: Evaluation) -> None:
    assert got.matched is want.matched
    assert len(got.trace) == len(want.trace)
    for mine, reference in zip(got.trace, want.trace, strict=True):
        assert list(mine) == ["path", "field", "operator", "expected", "actual", "result"]
        assert mine["result"] is reference["result"]  # True / False / None, never 1 or 0
        assert _strict(mine) == _strict(reference)
    assert got == want


@settings(max_examples=400, deadline=None)
@given(definitions, facts())
def test_generated_tracing_equals_the_reference(defs, fact):
    ruleset = compile_ruleset(defs)
    evaluation = ruleset.evaluate(fact)
    assert len(evaluation) == len(defs)
    assert evaluation.matching() == ruleset.matching(fact)
    iterated = list(evaluation)
    assert len(iterated) == len(defs)
    for i, definition in enumerate(defs):
        compiled = compile_rule(definition)
        want = evaluate_traced(compiled.tree, fact)
        assert evaluation.matched[i] is want.matched
        assert_same(evaluation[i], want)
        assert_same(iterated[i], want)
        assert_same(compiled.evaluate(fact), want)
        assert compiled.matches(fact) is want.matched


@settings(max_examples=150, deadline=None)
@given(conditions, facts())
def test_the_same_rule_twice_in_a_ruleset_traces_alike(condition, fact):
    """Every leaf of the first rule is shared with the second: shared leaves are computed
    once, and each copy still shows None where its own short-circuiting skipped it."""
    definition = {"name": "r", "conditions": condition}
    evaluation = compile_ruleset([definition, {"name": "other"}, definition]).evaluate(fact)
    want = evaluate_traced(compile_rule(definition).tree, fact)
    assert_same(evaluation[0], want)
    assert_same(evaluation[2], want)
    assert_same(evaluation[1], Evaluation(True, []))


def leaf(field, operator, value=None):
    node: dict[str, Any] = {"field": field, "operator": operator}
    if operator not in ("exists", "not_exists"):
        node["value"] = value
    return node


PREMIUM = leaf("referred.plan", "equals", "premium")
PAID = leaf("referrer.is_paid_user", "equals", True)
RECENT = leaf("referred.joined_at", "within_last_days", 30)


def test_ruleset_trace_shows_results_skips_missing_and_rendered_values():
    defs = [
        {"name": "a", "conditions": {"operator": "AND", "conditions": [PAID, PREMIUM]}},
        {"name": "b", "conditions": {"operator": "OR", "conditions": [PREMIUM, RECENT]}},
        {
            "name": "c",
            "conditions": {
                "operator": "NOT",
                "conditions": [
                    {
                        "operator": "OR",
                        "conditions": [leaf("referrer.tags", "contains", "vip"), PAID],
                    }
                ],
            },
        },
        {
            "name": "d",
            "conditions": {
                "operator": "AND",
                "conditions": [leaf("referrer.tier", "exists"), PAID],
            },
        },
    ]
    joined = OCCURRED - timedelta(days=2)
    fact = {
        "event": {"occurred_at": OCCURRED},
        "referrer": {"is_paid_user": False, "tags": ("new", joined)},
        "referred": {"plan": "premium", "joined_at": joined},
    }
    evaluation = compile_ruleset(defs).evaluate(fact)
    assert isinstance(evaluation, RulesetEvaluation)
    assert evaluation.matched == (False, True, True, False)
    assert evaluation.matching() == [1, 2]

    def row(entry):
        return entry["path"], entry["field"], entry["actual"], entry["result"]

    assert [row(e) for e in evaluation[0].trace] == [
        ("$.conditions.conditions[0]", "referrer.is_paid_user", False, False),
        ("$.conditions.conditions[1]", "referred.plan", "premium", None),
    ]
    assert [row(e) for e in evaluation[1].trace] == [
        ("$.conditions.conditions[0]", "referred.plan", "premium", True),
        ("$.conditions.conditions[1]", "referred.joined_at", joined.isoformat(), None),
    ]
    assert [row(e) for e in evaluation[2].trace] == [
        (
            "$.conditions.conditions[0].conditions[0]",
            "referrer.tags",
            ["new", joined.isoformat()],
            False,
        ),
        ("$.conditions.conditions[0].conditions[1]", "referrer.is_paid_user", False, False),
    ]
    assert [row(e) for e in evaluation[3].trace] == [
        ("$.conditions.conditions[0]", "referrer.tier", None, False),
        ("$.conditions.conditions[1]", "referrer.is_paid_user", False, None),
    ]
    assert evaluation[1].trace[0] == {
        "path": "$.conditions.conditions[0]",
        "field": "referred.plan",
        "operator": "equals",
        "expected": "premium",
        "actual": "premium",
        "result": True,
    }
    assert [e.matched for e in evaluation] == [False, True, True, False]
    json.dumps([e.trace for e in evaluation])  # the trace is JSON as it is


def test_a_trace_is_built_once_and_each_read_of_a_rule_is_its_own():
    fact = {"referred": {"plan": "premium"}}
    evaluation = compile_rule({"name": "r", "conditions": PREMIUM}).evaluate(fact)
    first = evaluation.trace
    assert evaluation.trace is first
    ruleset_evaluation = compile_ruleset([{"name": "r", "conditions": PREMIUM}]).evaluate(fact)
    one, other = ruleset_evaluation[0].trace, ruleset_evaluation[0].trace
    assert one == other == first and one is not other
    one[0]["result"] = "changed by a caller"
    assert ruleset_evaluation[0].trace[0]["result"] is True


def test_an_evaluation_built_by_hand_still_works():
    plain = Evaluation(True)
    assert plain.trace == [] and plain.matched is True
    plain.trace = [{"x": 1}]
    assert plain == Evaluation(True, [{"x": 1}]) != Evaluation(False, [{"x": 1}])
    assert "matched=True" in repr(plain)
    assert plain != "not an evaluation"


def test_empty_rulesets_and_groups():
    assert len(compile_ruleset([]).evaluate({})) == 0
    assert compile_ruleset([]).evaluate({}).matching() == []
    defs: list[dict[str, Any]] = [
        {"name": "and", "conditions": {"operator": "AND", "conditions": []}},
        {"name": "or", "conditions": {"operator": "OR", "conditions": []}},
        {"name": "none"},
    ]
    evaluation = compile_ruleset(defs).evaluate({})
    assert evaluation.matched == (True, False, True)
    assert [e.trace for e in evaluation] == [[], [], []]


def test_strings_from_rules_never_become_traced_code():
    hostile = "x') or __import__('os').system('echo pwned') or ('"
    key = "x')or__import__('os')or('"
    definition = {"name": "r", "conditions": leaf(f"referred.{key}", "equals", hostile)}
    ruleset = compile_ruleset([definition])
    evaluation = ruleset.evaluate({"referred": {key: hostile}})
    assert evaluation.matched == (True,)
    assert evaluation[0].trace[0]["field"] == f"referred.{key}"
    assert "import" not in ruleset.traced_source and "os" not in ruleset.traced_source
