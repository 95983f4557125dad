"""A pytest plugin for `make mutation` only (pyproject's [tool.mutmut] loads it with `-p`).

mutmut forks each mutant's test run from a process that has already run the tests, so the rule
engine's compile caches would still hold rules compiled by the unmutated code: a mutant of a
function that runs at compile time (operators._ordered, make_test, ...) would never run and would
look like a survivor. Every run starts with empty caches instead."""

from __future__ import annotations


def pytest_sessionstart(session) -> None:
    from rules.engine.compile import _compile_rule, _compile_ruleset

    _compile_rule.cache_clear()
    _compile_ruleset.cache_clear()
