"""Evaluation with a trace: one entry per leaf, in document order.

``evaluate_traced`` is the plain tree-walking reference; CompiledRule.evaluate runs generated
code (rules.engine.codegen) that must give the same answer, which the tests check.

Every leaf appears, so the builder can colour the whole tree: ``result`` is true or false
for a leaf that was evaluated and null for one that short-circuiting skipped (its ``actual``
is still shown). ``actual`` is null when the field is missing; datetimes are rendered as
RFC 3339 strings so the trace is JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .operators import LIST_TYPES, MISSING, resolve
from .tree import Leaf, Node


@dataclass(slots=True)
class Evaluation:
    matched: bool
    trace: list[dict[str, Any]] = field(default_factory=list)


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
