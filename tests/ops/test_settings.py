"""What DB_POOLER and DATABASE_REPLICA_URL configure (config/settings/base.py), read from a
fresh process so the environment decides."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SHOW = """
import json
from django.conf import settings
import django
django.setup()
from config.inline_scheduler import leases_for
print(json.dumps({
    "pooler": settings.DB_POOLER,
    "prepared": settings.LEDGER_PREPARED_STATEMENTS,
    "cursors_off": settings.DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False),
    "aliases": sorted(settings.DATABASES),
    "replica": {k: settings.DATABASES.get("replica", {}).get(k) for k in ("HOST", "PORT", "NAME")},
    "mirror": settings.DATABASES.get("replica", {}).get("TEST", {}).get("MIRROR"),
    "leases": type(leases_for()).__name__,
}))
"""


def settings_with(**env: str) -> dict:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("DB_POOLER", "DATABASE_REPLICA_URL")
    }
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.test", **env)
    result = subprocess.run(
        [sys.executable, "-c", SHOW], env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


PG = "postgres://postgres@127.0.0.1:5432/somewhere"


def test_defaults_keep_sessions_and_one_database():
    seen = settings_with(DATABASE_URL=PG)
    assert seen["pooler"] == "" and seen["prepared"] is True and seen["cursors_off"] is False
    assert seen["aliases"] == ["default"]
    assert seen["leases"] == "PostgresLeases"


def test_pgbouncer_leaves_nothing_in_the_session():
    seen = settings_with(DATABASE_URL=PG, DB_POOLER="pgbouncer")
    assert seen["prepared"] is False and seen["cursors_off"] is True
    assert seen["leases"] == "PostgresTransactionLeases"
    # PgBouncer >= 1.21 with max_prepared_statements keeps them: they can be turned back on.
    assert (
        settings_with(DATABASE_URL=PG, DB_POOLER="pgbouncer", LEDGER_PREPARED_STATEMENTS="true")[
            "prepared"
        ]
        is True
    )


def test_a_replica_is_a_second_alias_that_tests_mirror():
    seen = settings_with(
        DATABASE_URL=PG, DATABASE_REPLICA_URL="postgres://postgres@10.0.0.9:5433/somewhere"
    )
    assert seen["aliases"] == ["default", "replica"]
    assert seen["replica"] == {"HOST": "10.0.0.9", "PORT": 5433, "NAME": "somewhere"}
    assert seen["mirror"] == "default"  # tests read the primary's test database through it


def test_an_unknown_pooler_is_refused():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    environment.update(DATABASE_URL=PG, DB_POOLER="pgpool")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "DB_POOLER must be unset or 'pgbouncer'" in result.stderr
