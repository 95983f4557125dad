"""The rule engine: pure Python, no models.

compile_rule(definition) -> CompiledRule (.matches(facts), .evaluate(facts) -> Evaluation)
expand_trace(definition, stored) -> the trace dicts of a stored (compact) trace.
compile_ruleset(definitions) -> CompiledRuleset (.matching(facts) -> indices,
    .evaluate(facts) -> RulesetEvaluation: .matched, .matching(), [i] -> Evaluation)
plan_actions(definition, facts, ...) in rules.engine.plan.
"""

from .compile import (
    CompiledRule,
    CompiledRuleset,
    RulesetEvaluation,
    compile_rule,
    compile_ruleset,
    expand_trace,
)
from .operators import LEAF_OPERATORS, MISSING, resolve
from .trace import Evaluation
from .tree import GROUP_OPERATORS, RuleCompileError

__all__ = [
    "GROUP_OPERATORS",
    "LEAF_OPERATORS",
    "MISSING",
    "CompiledRule",
    "CompiledRuleset",
    "Evaluation",
    "RuleCompileError",
    "RulesetEvaluation",
    "compile_rule",
    "compile_ruleset",
    "expand_trace",
    "resolve",
]
