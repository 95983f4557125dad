"""Priority order and ``stop_processing`` (SPEC §6): active rules for a trigger run in
descending priority; a matched rule with stop_processing stops the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .compile import compile_ruleset

T = TypeVar("T")


def _priority(rule: Any) -> int:
    return rule["priority"] if isinstance(rule, dict) else rule.priority


def order_rules(rules: Sequence[T], *, priority: Callable[[T], int] = _priority) -> list[T]:
    """Rules in running order: highest priority first; ties keep the order given (so pass
    them in a stable order, e.g. by id)."""
    return sorted(rules, key=lambda rule: -priority(rule))


def select_rules(definitions: Sequence[dict[str, Any]], facts: dict[str, Any]) -> list[int]:
    """Indices of the rules that decide for these facts, in running order: every matching
    rule by descending priority, up to and including the first with stop_processing."""
    ordered = order_rules(
        list(range(len(definitions))), priority=lambda i: definitions[i].get("priority", 0)
    )
    matched = set(compile_ruleset(definitions).matching(facts))
    selected: list[int] = []
    for index in ordered:
        if index in matched:
            selected.append(index)
            if definitions[index].get("stop_processing"):
                break
    return selected
