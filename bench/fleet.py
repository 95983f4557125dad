"""More than one of everything, at benchmark length: tests/fleet (two gunicorn instances behind
nginx with config/nginx.conf, two Celery workers and beat on RabbitMQ, the chaos bank test's
clients and nemesis across them) for minutes instead of the suite's 30 seconds.

    .venv/bin/python bench/fleet.py [--seconds 180] [--seed N] [--db bench_fleet]

It runs the test with FLEET_LONG=1 on PostgreSQL (the test database, test_<db>_<pid>, is
created and dropped by the test run) and prints its summary: requests, faults injected, answers,
which instance answered how many requests, tasks per worker, beat's sweeps, the operations'
outcomes, reconcile's exit. Exits with the test's status. Needs nginx (`make system-deps`) and
RabbitMQ on 127.0.0.1:5672 (guest/guest, rabbitmqctl to make the run's vhost). The servers'
logs (web, each worker, beat) go to a new directory under /tmp, printed at the start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180, help="seconds of load and faults")
    parser.add_argument("--seed", type=int, help="the clients' and nemesis' random seed")
    parser.add_argument("--db", default="bench_fleet", help="database name (test_<db>_<pid>)")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": PG.rsplit("/", 1)[0] + f"/{args.db}",
        "FLEET_LONG": "1",
        "FLEET_SECONDS": str(args.seconds),
    }
    env["FLEET_LOG_DIR"] = tempfile.mkdtemp(prefix="fleet_logs_")
    print(f"server logs: {env['FLEET_LOG_DIR']}", flush=True)
    if args.seed is not None:
        env["CHAOS_SEED"] = str(args.seed)
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-rs", "tests/fleet"]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
