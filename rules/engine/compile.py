"""Compile rule definitions once into plain Python callables, cached on their canonical JSON.

The cache key is the definition's canonical JSON, and the compiled object works on a copy
parsed back from it, so a caller mutating its dict afterwards cannot change a cached rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import compress, repeat
from typing import Any

from .codegen import generate, generate_traced
from .trace import Evaluation, Render, is_compact_trace, to_json
from .tree import Node, RuleCompileError, canonical_json, parse_definition

Traced = Callable[
    [Any], tuple[tuple[bool, ...], tuple[Any, ...], tuple[Any, ...], tuple[Render, ...]]
]


@dataclass(frozen=True, eq=False)
class CompiledRule:
    definition: dict[str, Any]
    tree: Node
    _matches: Callable[[Any], bool] = field(repr=False)
    _traced: Traced = field(repr=False)
    source: str = field(repr=False)
    render: Render = field(repr=False)

    def matches(self, facts: dict[str, Any]) -> bool:
        """True when the conditions hold (no trace; never raises on odd facts)."""
        return self._matches(facts)

    def evaluate(self, facts: dict[str, Any]) -> Evaluation:
        """The match with a trace of every leaf (see rules.engine.trace). The trace is
        recorded now and turned into dicts when read: do not mutate ``facts`` in between."""
        matched, outcomes, values, (render,) = self._traced(facts)
        return Evaluation.recorded(matched[0], render, outcomes, values)


class RulesetEvaluation(tuple[Any, ...]):
    """Every rule of a ruleset evaluated with its trace, from one call of generated code.

    ``matched[i]`` says whether rule i matched; ``self[i]`` is rule i's Evaluation (its trace
    is built when read); ``matching()`` lists the indices that matched. (A tuple underneath,
    ``(matched, outcomes, values, renderers)``, so making one costs no Python call.)"""

    __slots__ = ()

    @property
    def matched(self) -> tuple[bool, ...]:
        matched: tuple[bool, ...] = tuple.__getitem__(self, 0)
        return matched

    def __len__(self) -> int:
        return len(tuple.__getitem__(self, 0))

    def __getitem__(self, index: int) -> Evaluation:  # type: ignore[override]
        matched, outcomes, values, renders = tuple.__iter__(self)
        return Evaluation.recorded(matched[index], renders[index], outcomes, values)

    def __iter__(self) -> Iterator[Evaluation]:
        matched, outcomes, values, renders = tuple.__iter__(self)
        return map(Evaluation.recorded, matched, renders, repeat(outcomes), repeat(values))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RulesetEvaluation):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RulesetEvaluation({list(self)!r})"

    def stored_traces(self) -> tuple[dict[str, Any], ...]:
        """Every rule's trace as events store it (``self[i].stored_trace()`` for each i), made
        in one call that renders each field's value once for all the rules."""
        _, outcomes, values, renders = tuple.__iter__(self)
        if not renders:
            return ()
        stored: tuple[dict[str, Any], ...] = renders[0].store_all(outcomes, values)
        return stored

    def matching(self) -> list[int]:
        matched = tuple.__getitem__(self, 0)
        return [*compress(range(len(matched)), matched)]


_new_ruleset_evaluation = tuple.__new__


@dataclass(frozen=True, eq=False)
class CompiledRuleset:
    definitions: tuple[dict[str, Any], ...]
    trees: tuple[Node, ...] = field(repr=False)
    _matching: Callable[[Any], list[int]] = field(repr=False)
    source: str = field(repr=False)

    def matching(self, facts: dict[str, Any]) -> list[int]:
        """Indices (into the definitions given) of the rules whose conditions hold."""
        return self._matching(facts)

    def evaluate(self, facts: dict[str, Any]) -> RulesetEvaluation:
        """Every rule with its trace, in one call (what CompiledRule.evaluate gives for each
        rule alone). The traces are recorded now and built when read: do not mutate
        ``facts`` in between."""
        return _new_ruleset_evaluation(RulesetEvaluation, self._traced_code[0](facts))

    def evaluate_stored(
        self, facts: dict[str, Any]
    ) -> tuple[RulesetEvaluation, tuple[dict[str, Any], ...]]:
        """``evaluate(facts)`` and every rule's trace as events store it
        (``stored_traces()``), from one call of generated code: the quickest way to store
        every rule's trace."""
        # The generated code makes the RulesetEvaluation itself (one Python call fewer).
        both: tuple[RulesetEvaluation, tuple[dict[str, Any], ...]]
        both = self._traced_code[0].stored(facts)  # type: ignore[attr-defined]
        return both

    @cached_property
    def _traced_code(self) -> tuple[Traced, tuple[Render, ...], str]:
        # Generated on first use: the untraced callers never pay for it.
        function, renders, source = generate_traced(self.trees, to_json, RulesetEvaluation)
        return function, tuple(renders), source

    @property
    def traced_source(self) -> str:
        return self._traced_code[2]

    def __len__(self) -> int:
        return len(self.definitions)


@lru_cache(maxsize=2048)
def _compile_rule(canonical: str) -> CompiledRule:
    definition = json.loads(canonical)
    tree = parse_definition(definition)
    function, source = generate([tree], single=True)
    traced, (render,), _ = generate_traced([tree], to_json)
    return CompiledRule(definition, tree, function, traced, source, render)


@lru_cache(maxsize=256)
def _compile_ruleset(canonicals: tuple[str, ...]) -> CompiledRuleset:
    definitions = tuple(json.loads(canonical) for canonical in canonicals)
    trees = tuple(parse_definition(d) for d in definitions)
    function, source = generate(trees)
    return CompiledRuleset(definitions, trees, function, source)


def compile_rule(definition: dict[str, Any]) -> CompiledRule:
    """Compile one definition (RuleCompileError on a malformed condition tree)."""
    return _compile_rule(canonical_json(definition))


def compile_ruleset(definitions: Iterable[dict[str, Any]]) -> CompiledRuleset:
    """Compile many definitions into one function: the fast path for evaluating a trigger's
    active rules together (``matching``, tracing off; ``evaluate``, every rule traced)."""
    return _compile_ruleset(tuple(canonical_json(d) for d in definitions))


def expand_trace(definition: Any, stored: Any) -> list[dict[str, Any]]:
    """The list of per-leaf dicts for a stored trace: the compact form expanded against the
    rule version's ``definition``; a list (the form stored before) as it is. Anything that
    does not fit (another shape, lengths that do not match the definition's leaves, a
    definition that does not compile) gives [] and never raises."""
    if isinstance(stored, list):
        return stored
    if not is_compact_trace(stored) or not isinstance(definition, dict):
        return []
    try:
        render = compile_rule(definition).render
    except (RuleCompileError, TypeError, ValueError, RecursionError):
        return []
    leaves, fields = render.shape  # type: ignore[attr-defined]
    if "v2" in stored:
        both = stored["v2"]
        if len(both) != leaves + fields:
            return []
        results, values = both[:leaves], both[leaves:]
    else:  # the form stored before, outcomes and values apart
        results, values = stored["r"], stored["a"]
        if (len(results), len(values)) != (leaves, fields):
            return []
    # Outcomes are booleans as recorded; anything else read from storage counts as false.
    outcomes = tuple(r if r is True or r is False else False for r in results)
    return render(outcomes, tuple(values))
