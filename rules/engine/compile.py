"""Compile rule definitions once into plain Python callables, cached on their canonical JSON.

The cache key is the definition's canonical JSON, and the compiled object works on a copy
parsed back from it, so a caller mutating its dict afterwards cannot change a cached rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .codegen import generate, generate_traced
from .trace import Evaluation, to_json
from .tree import Node, canonical_json, parse_definition


@dataclass(frozen=True, eq=False)
class CompiledRule:
    definition: dict[str, Any]
    tree: Node
    _matches: Callable[[Any], bool] = field(repr=False)
    _traced: Callable[[Any], tuple[bool, list[dict[str, Any]]]] = field(repr=False)
    source: str = field(repr=False)

    def matches(self, facts: dict[str, Any]) -> bool:
        """True when the conditions hold (no trace; never raises on odd facts)."""
        return self._matches(facts)

    def evaluate(self, facts: dict[str, Any]) -> Evaluation:
        """The match with a trace of every leaf (see rules.engine.trace)."""
        matched, trace = self._traced(facts)
        return Evaluation(matched, trace)


@dataclass(frozen=True, eq=False)
class CompiledRuleset:
    definitions: tuple[dict[str, Any], ...]
    _matching: Callable[[Any], list[int]] = field(repr=False)
    source: str = field(repr=False)

    def matching(self, facts: dict[str, Any]) -> list[int]:
        """Indices (into the definitions given) of the rules whose conditions hold."""
        return self._matching(facts)

    def __len__(self) -> int:
        return len(self.definitions)


@lru_cache(maxsize=2048)
def _compile_rule(canonical: str) -> CompiledRule:
    definition = json.loads(canonical)
    tree = parse_definition(definition)
    function, source = generate([tree], single=True)
    traced, _ = generate_traced(tree, to_json)
    return CompiledRule(definition, tree, function, traced, source)


@lru_cache(maxsize=256)
def _compile_ruleset(canonicals: tuple[str, ...]) -> CompiledRuleset:
    definitions = tuple(json.loads(canonical) for canonical in canonicals)
    function, source = generate([parse_definition(d) for d in definitions])
    return CompiledRuleset(definitions, function, source)


def compile_rule(definition: dict[str, Any]) -> CompiledRule:
    """Compile one definition (RuleCompileError on a malformed condition tree)."""
    return _compile_rule(canonical_json(definition))


def compile_ruleset(definitions: Iterable[dict[str, Any]]) -> CompiledRuleset:
    """Compile many definitions into one function: the fast path for evaluating a trigger's
    active rules together (tracing off)."""
    return _compile_ruleset(tuple(canonical_json(d) for d in definitions))
