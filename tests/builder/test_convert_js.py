"""Runs the pure graph <-> rule JSON conversion tests (convert.test.mjs) under Node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).with_name("convert.test.mjs")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (npm installs it)")
def test_graph_and_rule_json_convert_exactly():
    result = subprocess.run(
        ["node", "--test", str(TESTS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
