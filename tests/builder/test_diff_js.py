"""Runs the builder's authoring tests under Node: the node-level diff (diff.test.mjs) and the
scenario/results helpers (authoring.test.mjs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rules.action_registry import actions_catalog

TESTS = [Path(__file__).with_name(name) for name in ("diff.test.mjs", "authoring.test.mjs")]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (npm installs it)")
@pytest.mark.parametrize("tests", TESTS, ids=lambda p: p.stem)
def test_the_authoring_helpers(tests: Path):
    # The canvas draws actions from the server's catalog: the tests get the real one.
    env = {**os.environ, "RULE_ACTIONS": json.dumps(actions_catalog(currency="INR"))}
    result = subprocess.run(
        ["node", "--test", str(tests)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    assert "# skipped 0" in result.stdout
