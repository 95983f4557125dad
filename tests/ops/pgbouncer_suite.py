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
        command = [sys.executable, "-m", "pytest", "--reuse-db", *(argv or DEFAULT)]
        print(f"==> Through PgBouncer (transaction mode) on port {port}: {' '.join(command[3:])}")
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
