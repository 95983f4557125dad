"""Views hold no queries (docs/ARCHITECTURE.md, STYLE.md "Layers"): an API view or a page
validates its input, calls one selector or service, and renders. A read lives in a selector
(`*/selectors.py`) so the API, the admin and the partner portal read the same way.

This walks the syntax tree of every API view module and front-end view module and fails on an
ORM query call in it. Comments and docstrings may name them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "ledger", "rules", "builder")

# Attribute names that build or run a query: `Model.objects`, and the QuerySet methods.
QUERY_ATTRIBUTES = frozenset({"objects"})
QUERY_METHODS = frozenset(
    {
        "filter",
        "exclude",
        "annotate",
        "aggregate",
        "select_related",
        "prefetch_related",
        "raw",
        "extra",
        "values",
        "values_list",
        "order_by",
    }
)

# The base view's program lookup (`program_for`) is the platform's API machinery, not a view.
MACHINERY = {"config/platform/api/views.py"}

# Modules that still hold queries, each with why; the test fails once one no longer does, so
# the list only shrinks.
PENDING: dict[str, str] = {}


def view_modules() -> list[str]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            parts = path.relative_to(ROOT).parts
            if "migrations" in parts or rel in MACHINERY:
                continue
            # API modules, and page modules (views.py, or a views/ package like the portal's).
            if {"apis", "views"} & set(parts[:-1]) or path.name in ("apis.py", "views.py"):
                found.add(rel)
    return sorted(found)


def query_calls(source: str) -> list[str]:
    """`line: code` of each line with an ORM query: `X.objects`, or a call of QUERY_METHODS."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in QUERY_ATTRIBUTES:
            lines.add(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
        ):
            lines.add(node.func.end_lineno or node.lineno)
    text = source.splitlines()
    return [f"{n}: {text[n - 1].strip()}" for n in sorted(lines)]


def test_the_walk_finds_the_view_modules():
    modules = view_modules()
    for expected in (
        "builder/views.py",
        "builder/portal/views/pages.py",
        "builder/portal/views/signin.py",
        "builder/portal/views/access.py",
        "config/platform/apis/audit.py",
        "config/platform/webhooks/apis.py",
        "ledger/apis/transactions.py",
        "rules/apis/events.py",
        "rules/rewards/apis/rewards.py",
    ):
        assert expected in modules


def test_the_check_sees_queries_and_not_their_names():
    source = (
        '"""Reads Reward.objects.filter(status=...)."""\n'
        "# qs.exclude(kind='post')\n"
        "a = Reward.objects.all()\n"
        "b = qs.filter(status=s)\n"
        "c = request.query_params.get('status')\n"
        "d = params.values\n"
    )
    assert query_calls(source) == ["3: a = Reward.objects.all()", "4: b = qs.filter(status=s)"]


@pytest.mark.parametrize("module", view_modules())
def test_views_hold_no_queries(module):
    hits = query_calls((ROOT / module).read_text())
    if module in PENDING:
        assert hits, f"{module} holds no queries any more: remove it from PENDING"
        return
    assert not hits, (
        f"{module} queries the database; move the read to a selector "
        f"(e.g. rules/rewards/selectors.py) and call it:\n" + "\n".join(hits)
    )
