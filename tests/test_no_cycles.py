"""Issue 12: no function-level imports of the project's own modules, the way import cycles
hide ("a function-level import used to dodge a cycle is a cycle"). Imports in an AppConfig's
start-up hooks (`ready()`, `import_models()`) are registration and allowed; ALLOWED names the
others, each with its reason. The cycles themselves are import-linter's "No import cycles" contract
(pyproject.toml), which counts function-level imports too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "ledger", "rules", "builder")
APP_CONFIG_HOOKS = {"ready", "import_models"}

# (file, imported module): why it is imported inside a function.
ALLOWED = {
    ("rules/nl.py", "rules.llm"): "the LLM client loads only when a draft asks for it",
}


def _project_module(name: str | None) -> bool:
    return bool(name) and str(name).split(".")[0] in PACKAGES


def function_level_imports() -> set[tuple[str, str]]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if node.name in APP_CONFIG_HOOKS and path.name == "apps.py":
                    continue
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and inner.level == 0:
                        names = [inner.module]
                    elif isinstance(inner, ast.Import):
                        names = [alias.name for alias in inner.names]
                    else:
                        continue
                    for name in names:
                        if _project_module(name):
                            found.add((str(path.relative_to(ROOT)), str(name)))
    return found


def test_project_modules_are_imported_at_the_top():
    assert function_level_imports() - set(ALLOWED) == set()


def test_every_allowed_exception_is_still_needed():
    assert set(ALLOWED) - function_level_imports() == set(), "remove it from ALLOWED"
