"""docs/API.md stays true: its curl examples (sections 1 and 3-8) run in order, as written, with
bash and curl against a live server. No example may get a 5xx, and the story they tell must have
happened (the event rewarded its referrer, the payout paid, the ledger reconciles)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from config.platform.api_keys import api_key_create, service_identity_get_or_create
from rules.rewards.models import Reward
from rules.rewards.services.programs import program_create
from tests.conftest import ensure_groups

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("curl"), reason="needs curl"),
]


def example_blocks() -> list[str]:
    sections = re.split(r"^## ", DOC.read_text(), flags=re.M)
    blocks = []
    for section in sections:
        number = section.split(".", 1)[0]
        if number in {"1", "3", "4", "5", "6", "7", "8"}:
            blocks += re.findall(r"```bash\n(.*?)```", section, re.S)
    return blocks


def test_api_examples_run_against_a_live_server(live_server, tmp_path):
    ensure_groups()
    program, _ = program_create(slug="acme", name="Acme", currency="INR")
    key = api_key_create(program=program, name="docs")[1]  # acts as api-acme (api clients)
    # What `create_api_key acme --service acme-approver --group approvers` makes.
    approver, _ = service_identity_get_or_create(username="acme-approver", groups=("approvers",))
    key2 = api_key_create(program=program, name="approver", owner=approver)[1]
    statuses = tmp_path / "statuses"
    # Every curl also appends "<status> <method> <url>" to a file the test reads afterwards.
    prelude = f"""
set -euo pipefail
export KEY={key} KEY2={key2} BASE={live_server.url}
export P=$BASE/api/v1/programs/acme
curl() {{ command curl -w '%{{stderr}}%{{http_code}} %{{method}} %{{url_effective}}\\n' "$@" \\
  2>>{statuses}; }}
"""
    script = prelude + "\n".join(example_blocks())
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    calls = statuses.read_text().splitlines()
    assert len(calls) > 50
    assert not [c for c in calls if c.startswith("5")], calls
    # The examples' own expectations, spot-checked.
    assert any(c.startswith("401 GET") for c in calls)
    assert any(c.startswith("403 POST") and c.endswith("/approve") for c in calls)
    rewards = {r.beneficiary: r for r in Reward.objects.filter(program=program)}
    assert rewards["dave"].status == "pending"  # the published rule rewarded erin's referrer
    assert rewards["bob"].status == "clawed_back"
    assert '"status":"clean"' in result.stdout.replace(" ", "")
