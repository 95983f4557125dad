"""Run part of the test suite through PgBouncer in transaction mode (`make test-pgbouncer`).

Starts PgBouncer on a free port in front of PG_TEST_URL's server (default: the local
127.0.0.1:5432), runs pytest with DATABASE_URL pointing at it and DB_POOLER=pgbouncer, so every
connection the tests, the servers and the workers they start open goes through the pooler;
then stops it and drops the test database directly (PgBouncer's idle server connections would
keep a DROP DATABASE through it waiting).

    python -m tests.ops.pgbouncer_suite [pytest arguments]   # default: PGBOUNCER_TESTS
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

from tests.ops.pgbouncer import available, pgbouncer

# The API, the event pipeline, payouts, the ledger and the pooler's own tests. Left out: tests
# that take a PostgreSQL session lock on purpose to play another worker
# (tests/config/test_inline_scheduler.py, session semantics by design).
DEFAULT = ["tests/ledger", "tests/rules", "tests/ops"]
# Tests of session mechanisms that DB_POOLER=pgbouncer turns off or that the pooler hides:
# prepared statements (off behind PgBouncer < 1.21), and a backend killed under a client
# connection (PgBouncer hands the client another server session; its backend pid is PgBouncer's).
SESSION_TESTS = [
    "tests/ledger/test_reward_statement.py::test_one_prepared_statement_serves_every_amount_and_source",
    "tests/ledger/test_api_hot_path.py::test_a_prepared_statement_replaces_a_connection_that_died_between_requests",
]


def main(argv: list[str]) -> int:
    if not available():
        print("pgbouncer is not installed (make system-deps)", file=sys.stderr)
        return 2
    upstream = urlsplit(os.environ.get("PG_TEST_URL", "postgres://postgres@127.0.0.1:5432/test"))
    user = upstream.username or "postgres"
    name = (upstream.path.lstrip("/") or "test") + "_pgbouncer"
    run_id = str(os.getpid())
    with pgbouncer(upstream.hostname or "127.0.0.1", upstream.port or 5432, user=user) as port:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{user}@127.0.0.1:{port}/{name}",
            "DB_POOLER": "pgbouncer",
            "TEST_RUN_ID": run_id,
        }
        # --reuse-db: pytest-django keeps the database at the end (dropped below, directly).
        deselect = [f"--deselect={test}" for test in SESSION_TESTS]
        command = [sys.executable, "-m", "pytest", "--reuse-db", *deselect, *(argv or DEFAULT)]
        print(
            f"==> Through PgBouncer (transaction mode) on port {port}: {' '.join(argv or DEFAULT)}"
        )
        code = subprocess.call(command, env=env)
    subprocess.call(
        [
            *("psql", "-h", upstream.hostname or "127.0.0.1", "-p", str(upstream.port or 5432)),
            *("-U", user, "-d", "postgres", "-qc"),
            f'DROP DATABASE IF EXISTS "test_{name}_{run_id}" WITH (FORCE)',
        ]
    )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
