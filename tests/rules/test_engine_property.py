"""Property test: the generated ruleset function, the per-rule callables, the traced code, the
tree-walking reference and a naive interpreter written here all agree on random rules and facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import compile_rule, compile_ruleset
from rules.engine.operators import LEAF_OPERATORS
from rules.engine.trace import evaluate_traced

OCCURRED = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
FIELDS = ["referred.a", "referrer.c", "event.d"]
OPERATORS = list(LEAF_OPERATORS)
MOMENTS = ["2025-03-01T00:00:00Z", "2025-03-10T12:00:00+00:00", "2024-01-01T00:00:00+05:30"]

# A small shared pool, so that rule values and fact values often meet (boundaries, equal
# values across kinds such as 1 / 1.0 / True, timestamps with different offsets).
scalars = st.sampled_from([None, True, False, 0, 1, 1.0, 0.5, "", "a", "ab", "1", *MOMENTS])
values = st.one_of(scalars, scalars, st.lists(scalars, max_size=3))
fact_values = st.one_of(
    scalars,
    scalars,
    st.lists(scalars, max_size=3),
    st.sampled_from([OCCURRED, OCCURRED - timedelta(days=3), OCCURRED - timedelta(days=40)]),
    st.dictionaries(st.sampled_from(["a", "b"]), scalars, max_size=2),
)


@st.composite
def leaves(draw):
    operator = draw(st.sampled_from(OPERATORS))
    node = {"field": draw(st.sampled_from(FIELDS)), "operator": operator}
    if operator not in ("exists", "not_exists"):
        if operator == "between":
            node["value"] = draw(st.one_of(st.lists(scalars, min_size=2, max_size=2), values))
        elif operator == "within_last_days":
            node["value"] = draw(st.one_of(st.sampled_from([1, 5, 30, 0.5]), scalars))
        else:
            node["value"] = draw(values)
    return node


conditions = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.builds(lambda cs: {"operator": "AND", "conditions": cs}, st.lists(children, max_size=3)),
        st.builds(lambda cs: {"operator": "OR", "conditions": cs}, st.lists(children, max_size=3)),
        st.builds(lambda c: {"operator": "NOT", "conditions": [c]}, children),
    ),
    max_leaves=6,
)
rules = st.lists(
    conditions.map(
        lambda c: {
            "name": "r",
            "trigger": "purchase",
            "priority": 0,
            "conditions": c,
            "actions": [],
        }
    ),
    min_size=1,
    max_size=5,
)


@st.composite
def facts(draw):
    out = {"event": {"occurred_at": OCCURRED}, "referred": {}, "referrer": {}}
    for field in FIELDS:
        if draw(st.booleans()):
            role, name = field.split(".")
            out[role][name] = draw(fact_values)
    return out


# --- a naive interpreter of SPEC §6, written independently of rules.engine ---------------


def _moment(value):
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else None
    return None


def _kind(value):
    for kind, types in (
        ("bool", bool),
        ("num", (int, float)),
        ("str", str),
        ("list", list),
        ("dict", dict),
        ("dt", datetime),
    ):
        if isinstance(value, types):
            return kind
    return "null" if value is None else "other"


def _eq(a, b):
    """True/False, or None when a and b are not comparable."""
    if isinstance(b, str) and _moment(b):
        return None if _moment(a) is None else _moment(a) == _moment(b)
    if _kind(a) != _kind(b):
        return None
    if _kind(a) == "list":
        return len(a) == len(b) and all(_eq(x, y) is True for x, y in zip(a, b))
    if _kind(a) == "dict":
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) is True for k in a)
    return a == b


def _comparable(actual, bound):
    if _kind(bound) == "num":
        return (actual, bound) if _kind(actual) == "num" else None
    if _moment(bound) and _moment(actual):
        return _moment(actual), _moment(bound)
    return None


def naive_leaf(node, facts):
    present, actual = True, facts
    for key in node["field"].split("."):
        if not isinstance(actual, dict) or key not in actual:
            present = False
            break
        actual = actual[key]
    op, value = node["operator"], node.get("value")
    if op == "not_exists":
        return not present
    if not present:
        return False
    if op == "exists":
        return True
    if op in ("equals", "not_equals"):
        return _eq(actual, value) is (op == "equals")
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            return False
        outcomes = [_eq(actual, member) for member in value]
        if op == "in":
            return True in outcomes
        return True not in outcomes and False in outcomes
    if op in ("greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal"):
        pair = _comparable(actual, value)
        if pair is None:
            return False
        a, b = pair
        return {
            "greater_than": a > b,
            "greater_than_or_equal": a >= b,
            "less_than": a < b,
            "less_than_or_equal": a <= b,
        }[op]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return False
        low, high = value
        both_numbers = _kind(low) == _kind(high) == "num"
        both_moments = bool(_moment(low) and _moment(high)) and not isinstance(low, datetime)
        if not (both_numbers or both_moments):
            return False
        lo, hi = _comparable(actual, low), _comparable(actual, high)
        return lo is not None and hi is not None and lo[1] <= lo[0] <= hi[1]
    if op in ("contains", "not_contains"):
        if isinstance(actual, str):
            return isinstance(value, str) and (value in actual) is (op == "contains")
        if isinstance(actual, list):
            return any(_eq(item, value) is True for item in actual) is (op == "contains")
        return False
    if op in ("starts_with", "ends_with"):
        if not (isinstance(actual, str) and isinstance(value, str)):
            return False
        return actual.startswith(value) if op == "starts_with" else actual.endswith(value)
    if op == "within_last_days":
        when, now = _moment(actual), _moment(facts["event"]["occurred_at"])
        if _kind(value) != "num" or value <= 0 or when is None:
            return False
        return now - timedelta(days=value) <= when <= now
    raise AssertionError(op)


def naive(node, facts):
    if "conditions" not in node:
        return naive_leaf(node, facts)
    results = [naive(child, facts) for child in node["conditions"]]
    if node["operator"] == "NOT":
        return not results[0]
    return all(results) if node["operator"] == "AND" else any(results)


@settings(max_examples=300, deadline=None)
@given(rules, facts())
def test_all_evaluators_agree(definitions, fact):
    expected = [i for i, d in enumerate(definitions) if naive(d["conditions"], fact)]
    assert compile_ruleset(definitions).matching(fact) == expected
    traced_all = compile_ruleset(definitions).evaluate(fact)
    assert traced_all.matching() == expected
    for i, definition in enumerate(definitions):
        compiled = compile_rule(definition)
        evaluation = compiled.evaluate(fact)
        assert compiled.matches(fact) is (i in expected)
        assert evaluation.matched is (i in expected)
        assert evaluate_traced(compiled.tree, fact) == evaluation == traced_all[i]


@settings(max_examples=1500, deadline=None)
@given(leaves(), st.one_of(st.none(), fact_values))
def test_every_leaf_agrees_with_the_naive_interpreter(node, actual):
    fact = {"event": {"occurred_at": OCCURRED}, "referred": {}, "referrer": {}}
    if actual is not None:  # None here stands for "missing"; null facts come from scalars
        role, name = node["field"].split(".")
        fact[role][name] = actual
    definition = {"name": "r", "conditions": {"operator": "AND", "conditions": [node]}}
    expected = naive_leaf(node, fact)
    assert compile_ruleset([definition]).matching(fact) == ([0] if expected else [])
    assert compile_rule(definition).evaluate(fact).trace[0]["result"] is expected
