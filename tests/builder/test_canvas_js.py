"""Runs the one-unit and big-rule layout tests (canvas.test.mjs) under Node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).with_name("canvas.test.mjs")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (npm installs it)")
def test_units_and_big_rule_layout():
    result = subprocess.run(
        ["node", "--test", str(TESTS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    assert "# skipped 0" in result.stdout
