"""Ledger benchmark (issue 2): pgbench's TPC-B rate on this server against rewards created per
second through the service layer, and the latency of a balance read as postings pile up.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/ledger.py

It creates (and afterwards drops) two scratch databases next to the one DATABASE_URL names: the
database itself, migrated, for the ledger, and `<name>_pgbench` for `pgbench -i`. Every reward
debits `program:rewards_expense`, the program's one hot account; each client credits its own
users. Prints one table; see docs/PERFORMANCE.md for recorded figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench"


def _url_for(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def _recreate(base: str, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(_url_for(base, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- pgbench --------------------------------------------------------------------------------


def pgbench(base: str, name: str, clients: int, seconds: int, scale: int) -> float:
    parts = urlsplit(_url_for(base, name))
    conn_args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    conn_args += ["-U", parts.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    out = subprocess.run(
        [
            *("pgbench", *conn_args, "-n", "-T", str(seconds), "-c", str(clients)),
            *("-j", str(min(clients, os.cpu_count() or 1)), name),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if not match:
        raise RuntimeError(f"could not read pgbench output:\n{out}")
    return float(match.group(1))


def pgbench_init(base: str, name: str, scale: int) -> None:
    parts = urlsplit(_url_for(base, name))
    conn_args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    conn_args += ["-U", parts.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    subprocess.run(
        ["pgbench", *conn_args, "-i", "-q", "-s", str(scale), name],
        env=env,
        check=True,
        capture_output=True,
    )


# --- the ledger through Django --------------------------------------------------------------


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtb25seS1maWVsZC1rZXktbm90LXNlY3JldCE=")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _book(program, user: str) -> None:
    from rules.rewards.services.rewards import reward_create

    reward_create(
        program=program,
        beneficiary=user,
        amount=100,
        currency=program.currency,
        reward_type="cash",
        actor="bench",
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a local process (the client's PostgreSQL backend); NaN when
    the server is not on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker(client: int, seconds: float, barrier, results) -> None:
    from django.db import connection

    from config.platform.models import Program

    program = Program.objects.get(slug="bench")
    users = [f"c{client}u{i}" for i in range(50)]
    for user in users:  # open the users' accounts before timing
        _book(program, user)
    with connection.cursor() as cursor:  # one persistent connection per client process
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    barrier.wait()
    cpu, server_cpu = time.process_time(), _cpu_seconds(backend)
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        _book(program, users[count % len(users)])
        count += 1
    results.put((count, time.process_time() - cpu, _cpu_seconds(backend) - server_cpu))
    connection.close()


def rewards_per_second(clients: int, seconds: float) -> tuple[float, float, float]:
    """Rewards per second over `clients` processes, and the CPU milliseconds one reward
    costs in the Python client and in its PostgreSQL backend."""
    from django.db import connections

    connections.close_all()  # children open their own connections
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(i, seconds, barrier, results)) for i in range(clients)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    counts, client_cpu, server_cpu = zip(*(results.get() for _ in procs), strict=True)
    for p in procs:
        p.join()
    total = sum(counts)
    return total / seconds, sum(client_cpu) / total * 1000, sum(server_cpu) / total * 1000


def _bulk_postings(program, account, n: int) -> None:
    """n postings of 1 credited to `account` (and matching debits to the expense account),
    in transactions of 1,000 postings each, with the matching stored totals. Triggers are off
    for this bulk load only (session_replication_role), as for a restore."""
    from django.db import connection, transaction

    from ledger.models import Account

    expense = Account.objects.get(program=program, code="program:rewards_expense")
    per_txn = 1000
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SET LOCAL session_replication_role = replica")
        c.execute(
            """
            CREATE TEMP TABLE bench_txn ON COMMIT DROP AS
            SELECT g AS n, gen_random_uuid() AS id,
                   clock_timestamp() - interval '1 day' + g * interval '1 ms' AS at
              FROM generate_series(1, %s) g
            """,
            [n // per_txn],
        )
        c.execute(
            """
            INSERT INTO ledger_transaction (id, program_id, kind, description, metadata,
                                            reference, created_at)
            SELECT id, %s, 'posted', 'bulk', '{}', 'bench', at FROM bench_txn
            """,
            [program.pk],
        )
        c.execute(
            """
            INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency,
                                        kind, created_at)
            SELECT t.id, %s, 'credit', 1, %s, 'posted', t.at
              FROM bench_txn t CROSS JOIN generate_series(1, %s)
            UNION ALL
            SELECT t.id, %s, 'debit', %s, %s, 'posted', t.at FROM bench_txn t
            """,
            [account.pk, program.currency, per_txn, expense.pk, per_txn, program.currency],
        )
        c.execute(
            "UPDATE ledger_accountbalance SET posted_credits = posted_credits + %s "
            "WHERE account_id = %s",
            [n, account.pk],
        )
        c.execute(
            "UPDATE ledger_accountbalance SET posted_debits = posted_debits + %s "
            "WHERE account_id = %s AND shard = 0",
            [n, expense.pk],
        )
    with connection.cursor() as c:
        c.execute("ANALYZE ledger_posting")
        c.execute("ANALYZE ledger_accountbalance")


def read_latency_ms(accounts: list, repeat: int) -> list[tuple[float, float]]:
    """Median and p99 of account_balance per account; the reads alternate between the
    accounts so that load on the machine affects each alike."""
    from ledger.selectors import account_balance

    times: list[list[float]] = [[] for _ in accounts]
    for i in range(repeat + 50):
        for j, account in enumerate(accounts):
            t = time.perf_counter()
            account_balance(account)
            if i >= 50:  # warm-up
                times[j].append(time.perf_counter() - t)
    out = []
    for ts in times:
        ts.sort()
        out.append((statistics.median(ts) * 1000, ts[int(len(ts) * 0.99)] * 1000))
    return out


def _cpu_note(client: float, server: float) -> str:
    cores = os.cpu_count() or 1
    return (
        f"Python {client:.2f} + PostgreSQL {server:.2f}; {cores} cores cap rewards/s at "
        f"{cores * 1000 / (client + server):,.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each timed run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--scale", type=int, default=8, help="pgbench -i scale (>= clients)")
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", DEFAULT_URL)
    name = urlsplit(base).path.lstrip("/") or "bench"
    pg_name = f"{name}_pgbench"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; PostgreSQL at {urlsplit(base).hostname}",
        file=sys.stderr,
    )

    _recreate(base, pg_name)
    _recreate(base, name)
    try:
        print(f"pgbench -i -s {args.scale} ...", file=sys.stderr)
        pgbench_init(base, pg_name, args.scale)
        tps1 = pgbench(base, pg_name, 1, args.seconds, args.scale)
        tpsn = pgbench(base, pg_name, args.clients, args.seconds, args.scale)
        _recreate(base, pg_name, drop_only=True)

        django_setup(_url_for(base, name))
        from django.core.management import call_command
        from django.db import connection

        with connection.cursor() as c:
            c.execute("SHOW server_version")
            server = c.fetchone()[0]
        call_command("migrate", verbosity=0)
        from rules.rewards.services.programs import program_create

        program, _ = program_create(slug="bench", name="Bench", currency="INR")
        print("rewards through reward_create ...", file=sys.stderr)
        r1, cpu1, server1 = rewards_per_second(1, args.seconds)
        rn, cpun, servern = rewards_per_second(args.clients, args.seconds)

        print(f"loading {args.postings:,} postings ...", file=sys.stderr)
        from ledger.booking.lines import PostingLine
        from ledger.models import Account
        from ledger.services.accounts import account_create
        from ledger.services.transactions import transaction_create

        small = account_create(
            program=program, code="bench:small", kind="liability", currency="INR"
        )
        big = account_create(program=program, code="bench:big", kind="liability", currency="INR")
        for _ in range(10):
            transaction_create(
                program=program,
                postings=[
                    PostingLine("program:rewards_expense", "debit", 1),
                    PostingLine(small, "credit", 1),
                ],
                audit=False,
            )
        _bulk_postings(program, big, args.postings)
        (small_ms, small_p99), (big_ms, big_p99) = read_latency_ms(
            [Account.objects.get(pk=small.pk), Account.objects.get(pk=big.pk)], 2000
        )

        from ledger.services.reconciliation import reconciliation_run

        t = time.perf_counter()
        report = reconciliation_run(program=program)
        recon_s = time.perf_counter() - t
        connection.close()
    finally:
        if not args.keep:
            _recreate(base, pg_name, drop_only=True)
            _recreate(base, name, drop_only=True)

    n = args.clients
    rows = [
        ("pgbench TPC-B, 1 client (tps)", f"{tps1:,.0f}", ""),
        (f"pgbench TPC-B, {n} clients (tps)", f"{tpsn:,.0f}", ""),
        ("rewards/s, 1 client", f"{r1:,.0f}", f"{r1 / tps1:.0%} of pgbench (target >= 50%)"),
        (
            f"rewards/s, {n} clients, one hot account",
            f"{rn:,.0f}",
            f"{rn / tpsn:.0%} of pgbench (target >= 50%)",
        ),
        ("CPU per reward, 1 client (ms)", f"{cpu1 + server1:.2f}", _cpu_note(cpu1, server1)),
        (f"CPU per reward, {n} clients (ms)", f"{cpun + servern:.2f}", _cpu_note(cpun, servern)),
        ("balance read, 10 postings (ms, median)", f"{small_ms:.3f}", f"p99 {small_p99:.3f}"),
        (
            f"balance read, {args.postings:,} postings (ms, median)",
            f"{big_ms:.3f}",
            f"p99 {big_p99:.3f}; {big_ms / small_ms:.2f}x the 10-posting read (target <= 1.5x)",
        ),
        (
            f"reconcile the program ({args.postings:,}+ postings)",
            f"{recon_s:.1f} s",
            report.status,
        ),
    ]
    print(f"PostgreSQL {server}; rewards via reward_create; {args.seconds} s per timed run")
    width = max(len(r[0]) for r in rows)
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>10}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
