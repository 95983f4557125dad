"""What tests/ops/test_replica.py runs in a process of its own, configured with DATABASE_URL
(the primary) and DATABASE_REPLICA_URL (its streaming replica): rewards through the API while
the replica's replay is paused. Prints one JSON object of observations on its last line.

    python -m tests.ops.replica_scenario
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402

from config.db_router import REPLICA, replica_reads  # noqa: E402
from config.platform.api_keys import api_key_create  # noqa: E402
from config.platform.models import Program  # noqa: E402
from ledger.services.reconciliation import reconciliation_run  # noqa: E402
from rules.rewards.models import Reward  # noqa: E402
from rules.rewards.services.programs import program_create  # noqa: E402
from tests.conftest import ensure_groups  # noqa: E402
from tests.ops.postgres_cluster import wait_for_replay  # noqa: E402

BODY = {"beneficiary": "alice", "amount": 5000, "currency": "INR", "reward_type": "cash"}


def dsn(alias: str) -> str:
    s = connections[alias].settings_dict
    return f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@contextmanager
def queries_on(alias: str) -> Iterator[list[str]]:
    """The SQL `alias` runs inside the block."""
    db = connections[alias]
    db.force_debug_cursor = True
    start = len(db.queries_log)
    seen: list[str] = []
    try:
        yield seen
    finally:
        seen.extend(q["sql"] for q in list(db.queries_log)[start:])
        db.force_debug_cursor = False


def replica_sql(statement: str) -> Any:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone()


def main() -> dict[str, Any]:
    catch_up: Callable[[], None] = lambda: wait_for_replay(dsn("default"), dsn(REPLICA))  # noqa: E731
    out: dict[str, Any] = {}
    ensure_groups()
    program, _ = program_create(slug="acme", name="Acme", currency="INR")
    client = Client(
        HTTP_HOST="localhost",
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, name='t')[1]}",
    )
    base = "/api/v1/programs/acme"

    def create(key: str) -> Any:
        return client.post(
            f"{base}/rewards", BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )

    def listed() -> list[int]:
        return [r["id"] for r in client.get(f"{base}/rewards").json()["results"]]

    first = create("k1").json()["id"]
    catch_up()
    out["in_recovery"] = replica_sql("SELECT pg_is_in_recovery()")[0]
    out["listed_after_catch_up"] = listed() == [first]

    replica_sql("SELECT pg_wal_replay_pause()")
    out["paused"] = replica_sql("SELECT pg_is_wal_replay_paused()")[0]
    with queries_on(REPLICA) as replica_during_writes:
        created = create("k2")
        second = created.json()["id"]
        replayed = create("k2")  # the idempotency record: a read that decides, on the primary
        confirmed = client.post(f"{base}/rewards/{second}/confirm", {}, "application/json")
        detail = client.get(f"{base}/rewards/{second}")
        balance = client.get(f"{base}/users/alice/balance").json()
    out["create_status"] = created.status_code
    out["replay"] = [
        replayed.status_code,
        replayed.get("Idempotent-Replayed"),
        replayed.json()["id"] == second,
    ]
    out["confirm"] = [confirmed.status_code, confirmed.json().get("status")]
    out["detail_status"] = detail.status_code
    out["balance_pending"] = balance["pending"]
    out["replica_queries_during_writes"] = replica_during_writes
    out["on_primary"] = Reward.objects.filter(program=program).count()

    with queries_on(REPLICA) as replica_during_list:
        out["listed_while_paused"] = listed()
        with replica_reads():
            out["replica_count_while_paused"] = Reward.objects.filter(program=program).count()
        out["reconcile_while_paused"] = reconciliation_run(program=program).status
    out["replica_queries_for_lists"] = len(replica_during_list)

    replica_sql("SELECT pg_wal_replay_resume()")
    catch_up()
    out["listed_after_resume"] = sorted(listed()) == sorted([first, second])

    # An object read from the replica is saved to the primary (the replica is read-only).
    stale = Program.objects.using(REPLICA).get(pk=program.pk)
    stale.name = "Acme renamed"
    stale.save(update_fields=["name"])
    out["saved_on_primary"] = Program.objects.using("default").get(pk=program.pk).name
    out["first"], out["second"] = first, second
    return out


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
