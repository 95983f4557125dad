"""Leaf operators: the single definition of what a condition means.

Facts are JSON values (dict, list, str, int, float, bool, None) plus aware datetimes. Two
rules make every operator total, so evaluation never raises:

* a field that does not resolve is *missing* (``MISSING``): every operator is false on it
  except ``not_exists``;
* a value of the wrong kind is a *type mismatch*: the operator is false, negated operators
  included (``not_equals`` between a number and a string is false, not true). ``bool`` is
  not a number; ``int`` and ``float`` compare with each other.

A string the rule author wrote as an RFC 3339 timestamp with an offset (``"2025-01-01T00:00:00Z"``)
makes the comparison a datetime comparison; the fact may then be an aware datetime or an
RFC 3339 string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

LEAF_OPERATORS: Final = (
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
    "not_exists",
    "within_last_days",
)
VALUELESS_OPERATORS: Final = frozenset({"exists", "not_exists"})
MAX_WITHIN_DAYS: Final = 36_500  # a century; far larger spans overflow timedelta

# Exact classes, not isinstance: the generated fast path tests `x.__class__ in NUMBER_TYPES`
# and both paths must agree (bool subclasses int and must not count as a number).
NUMBER_TYPES: Final = frozenset({int, float})
LIST_TYPES: Final = frozenset({list, tuple})

Test = Callable[[Any, Any], bool]
"""A compiled leaf: ``test(actual, occurred_at) -> bool``; occurred_at is the event's time."""


def resolve(facts: Any, path: str) -> Any:
    """The value at a dotted path, or MISSING when any step does not resolve."""
    current = facts
    for key in path.split("."):
        if not isinstance(current, Mapping):
            return MISSING
        current = current.get(key, MISSING)
        if current is MISSING:
            return MISSING
    return current


def step(obj: Any, key: str) -> Any:
    """One step of ``resolve`` (the fast path inlines the common dict case)."""
    return obj.get(key, MISSING) if isinstance(obj, Mapping) else MISSING


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an RFC 3339 string; None for anything else."""
    if value.__class__ is datetime:
        return value if value.tzinfo is not None else None
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def is_number(value: Any) -> bool:
    return value.__class__ in NUMBER_TYPES


def _kind(value: Any) -> str | None:
    cls = value.__class__
    if cls in NUMBER_TYPES:
        return "number"
    if cls is bool:
        return "boolean"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if cls in LIST_TYPES:
        return "list"
    if cls is datetime:
        return "datetime"
    if isinstance(value, Mapping):
        return "object"
    return None


def _strict_equal(a: Any, b: Any) -> bool | None:
    """JSON equality that never confuses kinds; None when the kinds are not comparable."""
    kind = _kind(a)
    if kind is None or kind != _kind(b):
        return None
    if kind == "list":
        if len(a) != len(b):
            return False
        return all(_strict_equal(x, y) is True for x, y in zip(a, b, strict=True))
    if kind == "object":
        if a.keys() != b.keys():
            return False
        return all(_strict_equal(a[k], b[k]) is True for k in a)
    return bool(a == b)


def _equality(expected: Any) -> Callable[[Any], bool | None]:
    """compare(actual) -> True/False, or None when actual's kind does not fit ``expected``."""
    moment = parse_datetime(expected) if isinstance(expected, str) else None
    if moment is not None:

        def compare_moment(actual: Any) -> bool | None:
            if actual is MISSING:
                return None
            when = parse_datetime(actual)
            return None if when is None else when == moment

        return compare_moment

    def compare(actual: Any) -> bool | None:
        return None if actual is MISSING else _strict_equal(actual, expected)

    return compare


def _as_number(actual: Any) -> Any:
    return actual if is_number(actual) else None


def _ordered(expected: Any) -> tuple[Callable[[Any], Any], Any] | None:
    """(coerce, bound): coerce(actual) gives a comparable value or None on a type mismatch."""
    if is_number(expected):
        return _as_number, expected
    moment = parse_datetime(expected) if isinstance(expected, str) else None
    if moment is not None:
        return parse_datetime, moment
    return None


def _never(actual: Any, occurred_at: Any) -> bool:
    return False


def make_test(operator: str, value: Any) -> Test:
    """Compile one leaf into ``test(actual, occurred_at) -> bool``.

    A value that cannot apply (validation rejects such rules) gives a leaf that is always
    false, like any other type mismatch.
    """
    if operator == "exists":
        return lambda actual, occurred_at: actual is not MISSING
    if operator == "not_exists":
        return lambda actual, occurred_at: actual is MISSING

    if operator in ("equals", "not_equals"):
        compare = _equality(value)
        want = operator == "equals"
        return lambda actual, occurred_at: compare(actual) is want

    if operator in ("in", "not_in"):
        if value.__class__ not in LIST_TYPES:
            return _never
        compares = [_equality(member) for member in value]
        if operator == "in":
            return lambda actual, occurred_at: any(c(actual) is True for c in compares)

        def not_in(actual: Any, occurred_at: Any) -> bool:
            outcomes = {c(actual) for c in compares}
            return True not in outcomes and False in outcomes

        return not_in

    if operator in ("greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal"):
        ordered = _ordered(value)
        if ordered is None:
            return _never
        coerce, bound = ordered
        check = _COMPARISONS[operator]

        def compare_ordered(actual: Any, occurred_at: Any) -> bool:
            if actual is MISSING:
                return False
            got = coerce(actual)
            return got is not None and check(got, bound)

        return compare_ordered

    if operator == "between":
        if value.__class__ not in LIST_TYPES or len(value) != 2:
            return _never
        low, high = _ordered(value[0]), _ordered(value[1])
        if low is None or high is None or low[0] is not high[0]:
            return _never
        coerce, lo, hi = low[0], low[1], high[1]

        def between(actual: Any, occurred_at: Any) -> bool:
            if actual is MISSING:
                return False
            got = coerce(actual)
            return got is not None and lo <= got <= hi

        return between

    if operator in ("contains", "not_contains"):
        want = operator == "contains"
        member = _equality(value)
        value_is_text = isinstance(value, str)

        def contains(actual: Any, occurred_at: Any) -> bool:
            if isinstance(actual, str):
                return value_is_text and (value in actual) is want
            if actual.__class__ in LIST_TYPES:
                return any(member(item) is True for item in actual) is want
            return False

        return contains

    if operator in ("starts_with", "ends_with"):
        if not isinstance(value, str):
            return _never
        if operator == "starts_with":
            return lambda actual, occurred_at: isinstance(actual, str) and actual.startswith(value)
        return lambda actual, occurred_at: isinstance(actual, str) and actual.endswith(value)

    if operator == "within_last_days":
        if not is_number(value) or not 0 < value <= MAX_WITHIN_DAYS:
            return _never
        span = timedelta(days=value)

        def within_last_days(actual: Any, occurred_at: Any) -> bool:
            when, now = parse_datetime(actual), parse_datetime(occurred_at)
            return when is not None and now is not None and now - span <= when <= now

        return within_last_days

    raise ValueError(f"unknown operator {operator!r}")


_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "greater_than": lambda a, b: a > b,
    "greater_than_or_equal": lambda a, b: a >= b,
    "less_than": lambda a, b: a < b,
    "less_than_or_equal": lambda a, b: a <= b,
}
