"""A rule's conditions as a tree of Group and Leaf nodes, each knowing its JSON path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .operators import LEAF_OPERATORS, VALUELESS_OPERATORS, Test, make_test

GROUP_OPERATORS = ("AND", "OR", "NOT")


class RuleCompileError(ValueError):
    """A definition whose conditions cannot be compiled (validation rejects it first)."""


@dataclass(frozen=True, slots=True)
class Leaf:
    path: str
    field: str
    operator: str
    value: Any
    test: Test
    key: str  # identical leaves (same field, operator and value) share a key

    def to_trace(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "field": self.field,
            "operator": self.operator,
            "expected": self.value,
        }


@dataclass(frozen=True, slots=True)
class Group:
    path: str
    operator: str
    children: tuple[Node, ...]


Node = Leaf | Group


def canonical_json(value: Any) -> str:
    # default=str keeps a stray datetime in a hand-built definition from breaking the cache key
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def parse_conditions(node: Any, path: str = "$.conditions") -> Node:
    if not isinstance(node, dict):
        raise RuleCompileError(f"{path}: a condition must be an object")
    if "conditions" in node:
        operator = node.get("operator")
        children = node["conditions"]
        if operator not in GROUP_OPERATORS or not isinstance(children, list):
            raise RuleCompileError(f"{path}: a group needs operator AND, OR or NOT and a list")
        if operator == "NOT" and len(children) != 1:
            raise RuleCompileError(f"{path}: NOT takes exactly one condition")
        return Group(
            path,
            operator,
            tuple(
                parse_conditions(child, f"{path}.conditions[{i}]")
                for i, child in enumerate(children)
            ),
        )
    field, operator = node.get("field"), node.get("operator")
    if not isinstance(field, str) or not field or operator not in LEAF_OPERATORS:
        raise RuleCompileError(f"{path}: a leaf needs a field and a known operator")
    value = None if operator in VALUELESS_OPERATORS else node.get("value")
    return Leaf(
        path,
        field,
        operator,
        value,
        make_test(operator, value),
        canonical_json([field, operator, value]),
    )


def parse_definition(definition: Any) -> Node:
    if not isinstance(definition, dict):
        raise RuleCompileError("$: a rule definition must be an object")
    conditions = definition.get("conditions")
    if conditions is None:  # no conditions: the rule matches every event of its trigger
        return Group("$.conditions", "AND", ())
    return parse_conditions(conditions)


def iter_leaves(node: Node):
    if isinstance(node, Leaf):
        yield node
    else:
        for child in node.children:
            yield from iter_leaves(child)
