"""Evaluation with a trace: one entry per leaf, in document order.

``evaluate_traced`` is the plain tree-walking reference; CompiledRule.evaluate and
CompiledRuleset.evaluate run generated code (rules.engine.codegen) that must give the same
answer, which the tests check. The generated code only records each leaf's outcome and each
field's value; the dicts below are built when ``Evaluation.trace`` is first read.

Every leaf appears, so the builder can colour the whole tree: ``result`` is true or false
for a leaf that was evaluated and null for one that short-circuiting skipped (its ``actual``
is still shown). ``actual`` is null when the field is missing; datetimes are rendered as
RFC 3339 strings so the trace is JSON.

What events store (``Evaluation.stored_trace()``) is the compact record instead,
``{"v2": [...]}`` (the key names the form's version): the list holds first the outcome of each of the rule's distinct leaves
(distinct field, operator and value) in order of first appearance in the document, every one
evaluated (true/false), then the value of each distinct field a leaf reads, in the same
order, rendered as in the trace (missing → null, datetimes → RFC 3339). The rule's
definition says how many of each there are. In memory the list is a tuple (the generated
code builds one dict of one key and one tuple per rule, the least a record can cost); through
JSON, a list.
Events stored before this form hold ``{"v": 1, "r": [outcomes], "a": [values]}`` (the same
two sequences apart), or, before that, the list of dicts itself; readers take all three.
``rules.engine.expand_trace`` (in compile.py) rebuilds the list of dicts from it and the rule version's definition (versions are
immutable), walking the ``and``/``or``/``not`` again, so skipped leaves show null as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .operators import LIST_TYPES, MISSING, resolve
from .tree import Leaf, Node

Render = Callable[[tuple[Any, ...], tuple[Any, ...]], list[dict[str, Any]]]


class Evaluation:
    """A rule's match and its trace. The generated code records the trace compactly (leaf
    results and field values); ``trace`` builds the list of dicts the first time it is read,
    so evaluating costs no dicts until someone looks."""

    __slots__ = ("_pending", "_trace", "matched")

    def __init__(self, matched: bool, trace: list[dict[str, Any]] | None = None) -> None:
        self.matched = matched
        self._trace: list[dict[str, Any]] | None = [] if trace is None else trace
        self._pending: tuple[Render, tuple[Any, ...], tuple[Any, ...]] | None = None

    @classmethod
    def recorded(
        cls, matched: bool, render: Render, results: tuple[Any, ...], values: tuple[Any, ...]
    ) -> Evaluation:
        """An evaluation whose trace ``render(results, values)`` builds when it is read."""
        self = cls.__new__(cls)
        self.matched = matched
        self._trace = None
        self._pending = (render, results, values)
        return self

    @property
    def trace(self) -> list[dict[str, Any]]:
        trace = self._trace
        if trace is None:
            assert self._pending is not None
            render, results, values = self._pending
            trace = self._trace = render(results, values)
        return trace

    @trace.setter
    def trace(self, trace: list[dict[str, Any]]) -> None:
        self._trace, self._pending = trace, None

    def stored_trace(self) -> dict[str, Any] | list[dict[str, Any]]:
        """The trace as events store it: the compact record (see the module's docstring),
        or the list of dicts for an evaluation built with one (expand_trace reads both)."""
        pending = self._pending
        if pending is None:
            return self.trace
        render, results, values = pending
        stored: dict[str, Any] = render.store(results, values)  # type: ignore[attr-defined]
        return stored

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Evaluation):
            return NotImplemented
        return self.matched == other.matched and self.trace == other.trace

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"Evaluation(matched={self.matched!r}, trace={self.trace!r})"


def to_json(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if value.__class__ in LIST_TYPES:
        return [to_json(item) for item in value]
    return value


def _walk(node: Node, facts: Any, occurred_at: Any, out: list[dict[str, Any]], live: bool) -> bool:
    if isinstance(node, Leaf):
        actual = resolve(facts, node.field)
        result = node.test(actual, occurred_at) if live else None
        out.append({**node.to_trace(), "actual": to_json(actual), "result": result})
        return bool(result)
    if node.operator == "NOT":
        inner = _walk(node.children[0], facts, occurred_at, out, live)
        return live and not inner
    decided = node.operator == "OR"  # the value that settles the group early
    outcome = not decided
    for child in node.children:
        if _walk(child, facts, occurred_at, out, live and outcome is not decided) is decided:
            outcome = decided
    return outcome if live else False


def evaluate_traced(tree: Node, facts: Any) -> Evaluation:
    trace: list[dict[str, Any]] = []
    matched = _walk(tree, facts, resolve(facts, "event.occurred_at"), trace, True)
    return Evaluation(matched=matched, trace=trace)


def is_compact_trace(stored: Any) -> bool:
    """Whether ``stored`` has a compact stored form's shape (``{"v2": [...]}``, or
    ``{"v": 1, "r": [...], "a": [...]}`` as stored before; the lengths are checked against
    the definition by expand_trace)."""
    if not isinstance(stored, dict):
        return False
    if "v2" in stored:
        return len(stored) == 1 and isinstance(stored["v2"], (list, tuple))
    return (
        stored.get("v") == 1
        and isinstance(stored.get("r"), (list, tuple))
        and isinstance(stored.get("a"), (list, tuple))
    )
