"""The read replica (SPEC §15) against a real streaming replica started here: a throw-away
primary (initdb) with the test database's schema, and a replica of it (pg_basebackup -R) on a
second port. With the replica's replay paused (pg_wal_replay_pause), what a reader of the
lag-tolerant lists sees, and that the reward path (creation, its idempotent replay, confirming,
the balance) never reads the replica: it works on rows the replica does not have yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.ops import postgres_cluster
from tests.ops.conftest import database_url_of_this_test

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(
        postgres_cluster.bindir() is None,
        reason="PostgreSQL server binaries (initdb, pg_basebackup) not installed",
    ),
]


def test_lag_tolerant_reads_go_to_the_replica_and_deciding_reads_do_not():
    with postgres_cluster.primary_and_replica() as (primary, replica):
        # The primary gets the test database's schema (already migrated) as database "app".
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "app"],
            check=True,
        )
        dump = subprocess.run(
            [
                "pg_dump",
                "--no-owner",
                database_url_of_this_test().replace("postgres://", "postgresql://"),
            ],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(
            [
                "psql",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                primary.url("app").replace("postgres://", "postgresql://"),
            ],
            input=dump,
            check=True,
            capture_output=True,
        )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": primary.url("app"),
            "DATABASE_REPLICA_URL": replica.url("app"),
            "DJANGO_ALLOWED_HOSTS": "localhost",
        }
        env.pop("DB_POOLER", None)
        result = subprocess.run(
            [sys.executable, "-m", "tests.ops.replica_scenario"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["in_recovery"] is True and seen["paused"] is True
    assert seen["listed_after_catch_up"] is True
    # Writes and the reads that decide them, on rows the paused replica does not have:
    assert seen["create_status"] == 201
    assert seen["replay"] == [201, "true", True]
    assert seen["confirm"] == [200, "confirmed"]
    assert seen["detail_status"] == 200
    assert seen["balance_pending"] == 5000  # the first reward's pending; the second confirmed
    assert seen["replica_queries_during_writes"] == []
    assert seen["on_primary"] == 2
    # A reader of the lists sees the replica's past during the lag, consistently:
    assert seen["listed_while_paused"] == [seen["first"]]
    assert seen["replica_count_while_paused"] == 1
    assert seen["reconcile_while_paused"] == "clean"
    assert seen["replica_queries_for_lists"] > 0
    # ...and catches up once replay resumes.
    assert seen["listed_after_resume"] is True
    assert seen["saved_on_primary"] == "Acme renamed"


def test_without_a_replica_everything_reads_the_primary(settings):
    from config.db_router import replica_alias, replica_reads
    from rules.rewards.models import Reward

    assert "replica" not in settings.DATABASES
    assert replica_alias() == "default"
    with replica_reads() as alias:
        assert alias == "default"
        assert Reward.objects.all().db == "default"
    assert connection.alias == "default"
