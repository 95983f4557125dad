"""HTTP load on gunicorn + PostgreSQL, compared with pgbench TPC-B on the same server.

    .venv/bin/python bench/load.py [--rate 200] [--duration 20] [--concurrency 32]
                                   [--workers 4] [--threads 2] [--no-broker]
                                   [--worker-pool prefork] [--worker-concurrency 1]
                                   [--db bench_load] [--broker redis://127.0.0.1:6379/12]
                                   [--server gunicorn|granian|both] [--rounds 2]

Creates a scratch database (--db, dropped first), migrates it, creates a program, an API key and one
published rule (every `purchase` event rewards its user) through the services, starts gunicorn
on 127.0.0.1 (config/gunicorn.conf.py) and, unless --no-broker, a Celery worker on Redis that
processes the events. A load generator in another process (asyncio + aiohttp) then runs:

1. open loop: a fixed offered rate (requests start on schedule whether or not earlier ones
   finished; latency counts from the scheduled start, so a slow server cannot hide its queue),
   a mix of 50% reward creations, 25% events, 25% balance reads;
2. saturation: closed loop, N concurrent clients per operation, as fast as the server answers,
   then the same for /healthz (gunicorn and Django with no view work: the HTTP floor).

It prints throughput and p50/p95/p99 latency per operation with the CPU each request cost every
process (web, Celery worker, PostgreSQL, load generator), then pgbench TPC-B (-c 8 -j 2 -T 10)
on a scratch database of the same PostgreSQL and the ratio, and finally the CPU budget: the
throughput those CPU costs allow on this machine's cores, PostgreSQL's share alone and with the
HTTP floor. Everything it started is stopped on exit, Ctrl-C included; traffic goes to
127.0.0.1 only.

--server granian runs all of that on granian (WSGI) instead of gunicorn. --server both compares
the two on single-request reward creation and /healthz only: each server in turn (ABBA, --rounds
turns each) on the same database, same worker and thread counts, no broker, printing throughput,
latency and the CPU per request of the web server, PostgreSQL and the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import (  # noqa: E402
    EVERY_PURCHASE_RULE,
    PG_ADMIN_URL,
    PYTHON,
    CeleryWorker,
    CpuSample,
    Gunicorn,
    children_of,
    cpu_between,
    cpu_sample,
    database_drop,
    database_recreate,
    process_cpu,
    server_env,
    stopping,
    wait_http,
)

SLUG = "bench"
USERS = 1000
BROKER = "redis://127.0.0.1:6379/12"  # bench/events.py uses 13
PGBENCH = os.environ.get("PGBENCH", "/usr/bin/pgbench")
TIMEOUT = 10.0  # seconds
MIX = [("reward_create", 0.5), ("event_post", 0.25), ("balance_read", 0.25)]

# --- the load generator (runs in its own process: `load.py --generate SPEC`) ---------------


def _request(op: str) -> tuple[str, str, dict[str, str], Any]:
    """(method, path, headers, json body) for one operation."""
    user = f"u{random.randrange(USERS)}"
    base = f"/api/v1/programs/{SLUG}"
    if op == "reward_create":
        body = {
            "beneficiary": user,
            "amount": random.randint(100, 10_000),
            "currency": "INR",
            "reward_type": "cash",
        }
        return "POST", f"{base}/rewards", {"Idempotency-Key": uuid.uuid4().hex}, body
    if op == "event_post":
        body = {"id": uuid.uuid4().hex, "type": "purchase", "user": user, "data": {"amount": 499}}
        return "POST", f"{base}/events", {}, body
    if op == "healthz":
        return "GET", "/healthz", {}, None
    if op == "reward_batch":
        items = [
            {
                "key": uuid.uuid4().hex,
                "beneficiary": f"u{random.randrange(USERS)}",
                "amount": random.randint(100, 10_000),
                "currency": "INR",
                "reward_type": "cash",
            }
            for _ in range(BATCH)
        ]
        return "POST", f"{base}/rewards/batch", {}, {"items": items}
    return "GET", f"{base}/users/{user}/balance", {}, None


EXPECTED = {
    "reward_create": 201,
    "event_post": 202,
    "balance_read": 200,
    "healthz": 200,
    "reward_batch": 200,
}
# Saturation also runs /healthz: gunicorn and Django's middleware with no view work and no
# database, the floor under every API request's CPU; and the bulk endpoint, BATCH rewards per
# request (POST P/rewards/batch), with fewer clients (BATCH_CLIENTS: each request is big).
SATURATION = [*(op for op, _ in MIX), "healthz", "reward_batch"]
BATCH = 100
BATCH_CLIENTS = 8


async def _one(session, op: str, started: float, results: dict[str, list]) -> None:
    method, path, headers, body = _request(op)
    try:
        # The whole request (waiting for a connection included) gets 10 s.
        async with session.request(method, path, headers=headers, json=body) as response:
            raw = await response.read()
            status = response.status
    except Exception as exc:  # a refused or reset connection counts as an error, not a crash
        status = type(exc).__name__
    good = status == EXPECTED[op]
    if good and op == "reward_batch":
        # Every item created (counted without parsing the 100 rewards: cheap for the generator).
        created = raw.count(b'"status":201')
        good = created == BATCH
        if not good:
            status = f"{BATCH - created} items not created"
    results[op].append((time.perf_counter() - started, status, good))


async def _open_loop(session, rate: float, duration: float) -> tuple[dict[str, list], float]:
    results: dict[str, list] = {op: [] for op, _ in MIX}
    ops, weights = zip(*MIX, strict=True)
    tasks = []
    t0 = time.perf_counter()
    for i in range(int(rate * duration)):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        op = random.choices(ops, weights)[0]
        tasks.append(asyncio.create_task(_one(session, op, scheduled, results)))
    await asyncio.gather(*tasks)
    return results, time.perf_counter() - t0


async def _closed_loop(session, op: str, concurrency: int, duration: float):
    results: dict[str, list] = {op: []}
    end = time.perf_counter() + duration

    async def user() -> None:
        while time.perf_counter() < end:
            await _one(session, op, time.perf_counter(), results)

    t0 = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return results, time.perf_counter() - t0


def _cpu_seconds(master: int | None) -> CpuSample:
    """A sample of the web server's (or the Celery worker's) process tree; see cpu_between."""
    return cpu_sample(master)


def _worker_cpu(spec: dict[str, Any]) -> CpuSample:
    """The Celery worker's tree (main process and its pool)."""
    return cpu_sample(spec["worker_pid"])


def _summary(samples: list, elapsed: float) -> dict[str, Any]:
    """samples: (latency s, status, ok); latencies of successful requests only."""
    ok = sorted(lat for lat, _, good in samples if good)
    errors: dict[str, int] = {}
    for _, status, good in samples:
        if not good:
            errors[str(status)] = errors.get(str(status), 0) + 1

    def pct(p: float) -> float | None:
        if not ok:
            return None
        return round(1000 * ok[min(len(ok) - 1, int(p / 100 * len(ok)))], 1)

    return {
        "requests": len(samples),
        "ok": len(ok),
        "errors": errors,
        "throughput": round(len(ok) / elapsed, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
    }


async def _postgres_cpu(conn) -> float:
    """CPU of the whole PostgreSQL server (backends, WAL writer, autovacuum...), from /proc:
    the postmaster's live children plus what its exited children used (cutime, cstime), so a
    backend that ends mid-phase (CONN_MAX_AGE recycles connections) still counts."""
    cursor = await conn.execute("SELECT current_setting('data_directory')")
    (datadir,) = await cursor.fetchone()
    postmaster = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return reaped + process_cpu(postmaster) + sum(map(process_cpu, children_of(postmaster)))


async def _drain(spec: dict[str, Any], limit: float = 120) -> float:
    """Wait until every event posted so far is processed and the web workers are idle, so one
    phase's backlog (the Celery worker still busy with its events) does not run into the next
    phase's measurement; returns the seconds waited."""
    import psycopg

    t0 = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(spec["database"], autocommit=True) as conn:
        while time.perf_counter() - t0 < limit:
            cpu = _cpu_seconds(spec["server_pid"])
            cursor = await conn.execute(
                "SELECT count(*) FROM rules_event WHERE status IN ('received', 'processing')"
            )
            row = await cursor.fetchone()
            assert row is not None  # count(*) always answers one row
            (waiting,) = row
            await asyncio.sleep(0.5)
            if not waiting and cpu_between(cpu, _cpu_seconds(spec["server_pid"])) < 0.05:
                break
    return round(time.perf_counter() - t0, 1)


async def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp
    import psycopg

    # At most 256 connections (so requests) in flight; one that takes more than TIMEOUT counts
    # as an error, so an overloaded server ends the run instead of stretching it. aiohttp (its
    # HTTP parser is C) costs this process a fraction of the CPU httpx did, on the same cores
    # as the server.
    connector = aiohttp.TCPConnector(limit=256)
    session = aiohttp.ClientSession(
        base_url=spec["url"],
        headers={"Authorization": f"Bearer {spec['key']}"},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=TIMEOUT),
    )
    out: dict[str, Any] = {}
    async with session:
        # Warm-up: every worker imports lazily-loaded code and opens its connection.
        await _closed_loop(session, "reward_create", 8, 2)
        await _closed_loop(session, "event_post", 8, 1)
        out["drained_s"] = [await _drain(spec)]
        cpu = time.process_time()
        results, elapsed = await _open_loop(session, spec["rate"], spec["duration"])
        out["open_loop"] = {op: _summary(results[op], elapsed) for op in results}
        out["open_loop"]["all"] = _summary([s for v in results.values() for s in v], elapsed)
        out["open_loop"]["generator_cpu_ms"] = round(
            1000 * (time.process_time() - cpu) / max(out["open_loop"]["all"]["requests"], 1), 2
        )
        out["drained_s"].append(await _drain(spec))
        out["saturation"] = {}
        conn = await psycopg.AsyncConnection.connect(spec["admin_database"], autocommit=True)
        for op in SATURATION:
            web = _cpu_seconds(spec["server_pid"])
            worker = _worker_cpu(spec)
            pg = await _postgres_cpu(conn)
            own = time.process_time()
            clients = BATCH_CLIENTS if op == "reward_batch" else spec["concurrency"]
            samples, elapsed = await _closed_loop(session, op, clients, spec["saturation_seconds"])
            out["saturation"][op] = summary = _summary(samples[op], elapsed)
            # The CPU each successful request cost (the PostgreSQL server's includes the
            # Celery worker's statements), including the processing of the events
            # posted in this phase (the wait for their backlog ends the phase): unlike
            # throughput, it depends little on what else the machine is running.
            out["drained_s"].append(await _drain(spec))
            ok = max(summary["ok"], 1)
            summary["server_cpu_ms"] = round(
                1000 * cpu_between(web, _cpu_seconds(spec["server_pid"])) / ok, 2
            )
            summary["worker_cpu_ms"] = round(1000 * cpu_between(worker, _worker_cpu(spec)) / ok, 2)
            summary["postgres_cpu_ms"] = round(1000 * (await _postgres_cpu(conn) - pg) / ok, 2)
            summary["generator_cpu_ms"] = round(
                1000 * (time.process_time() - own) / max(summary["requests"], 1), 2
            )
        await conn.close()
    return out


# --- the orchestrator -----------------------------------------------------------------------


def _setup(database: str, broker: str) -> str:
    """Migrate the scratch database and create the program, key and rule; returns the key."""
    os.environ.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=database,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        CELERY_BROKER_URL=broker,
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from config.platform.api_keys import api_key_create
    from rules.rewards.services.programs import program_create
    from rules.services.rules import rule_create, rule_publish

    call_command("migrate", verbosity=0)
    program, _ = program_create(slug=SLUG, name="Bench", currency="INR")
    key = api_key_create(program=program, name="bench")[1]
    rule_publish(
        rule=rule_create(program=program, definition=EVERY_PURCHASE_RULE, actor="bench"),
        actor="bench",
    )
    connections.close_all()
    return key


def _event_statuses() -> dict[str, int]:
    from django.db import connections
    from django.db.models import Count

    from rules.models import Event

    rows = Event.objects.values("status").annotate(n=Count("id"))
    result = {row["status"]: row["n"] for row in rows}
    connections.close_all()
    return result


def _pgbench(dbname: str, log) -> float:
    database_recreate(dbname)
    try:
        common = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
        subprocess.run(
            [PGBENCH, *common, "-i", "-q", "-s", "10", dbname],
            check=True,
            stdout=log,
            stderr=log,
        )
        run = subprocess.run(
            [PGBENCH, *common, "-c", "8", "-j", "2", "-T", "10", dbname],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        database_drop(dbname)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", run.stdout)
    if match is None:
        raise RuntimeError(f"unexpected pgbench output:\n{run.stdout}")
    return float(match.group(1))


def _row(name: str, s: dict[str, Any]) -> str:
    errors = sum(s["errors"].values())
    return (
        f"  {name:<15} {s['requests']:>7} {errors:>6} {s['throughput']:>9.1f}"
        f" {s['p50_ms'] or 0:>8.1f} {s['p95_ms'] or 0:>8.1f} {s['p99_ms'] or 0:>8.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="open-loop requests/s")
    parser.add_argument("--duration", type=float, default=20, help="open-loop seconds")
    parser.add_argument("--concurrency", type=int, default=32, help="saturation clients")
    parser.add_argument("--saturation-seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (gthread)")
    parser.add_argument("--db", default="bench_load", help="scratch database (dropped first)")
    parser.add_argument("--no-broker", action="store_true", help="process events inline")
    parser.add_argument("--worker-pool", default="prefork", help="Celery pool (prefork, threads)")
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--broker", default=BROKER, help="Redis URL for Celery (flushed first)")
    parser.add_argument("--log", default="/tmp/bench_load.log", help="server logs go here")
    parser.add_argument(
        "--server",
        choices=("gunicorn", "granian", "both"),
        default="gunicorn",
        help="the WSGI server; both: single-request reward creation on each, in turns",
    )
    parser.add_argument("--rounds", type=int, default=2, help="--server both: turns per server")
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        spec = json.loads(args.generate)
        generate = _generate_servers if spec.get("servers") else _generate
        print(json.dumps(asyncio.run(generate(spec))))
        return 0
    if args.server == "both":
        return _compare_servers(args)
    # `kill` or `timeout` stop the run like Ctrl-C does: through the finally blocks below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    broker = "" if args.no_broker else args.broker
    if broker:
        import redis

        redis.Redis.from_url(broker).flushdb()
    database = database_recreate(args.db)
    key = _setup(database, broker)
    env = server_env(
        database,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DJANGO_SECURE_SSL_REDIRECT="false",
        API_RATE_LIMIT="10000000/min",
        CELERY_BROKER_URL=broker,
    )
    log = open(args.log, "w")  # noqa: SIM115  (closed at the end; servers write to it)
    server = SERVERS[args.server](env, workers=args.workers, threads=args.threads, log=log)
    worker = CeleryWorker(env, concurrency=args.worker_concurrency, pool=args.worker_pool, log=log)
    generator: subprocess.Popen | None = None
    try:
        with stopping(server, worker):
            if broker:
                worker.start()
            server.start()
            assert server.proc is not None  # start() spawned it
            spec = {
                "url": server.url,
                "server_pid": server.proc.pid,
                "database": database,
                "admin_database": PG_ADMIN_URL,
                "worker_pid": worker.proc.pid if worker.proc is not None else None,
                "key": key,
                "rate": args.rate,
                "duration": args.duration,
                "concurrency": args.concurrency,
                "saturation_seconds": args.saturation_seconds,
            }
            generator = subprocess.Popen(
                [PYTHON, __file__, "--generate", json.dumps(spec)],
                stdout=subprocess.PIPE,
                text=True,
            )
            stdout, _ = generator.communicate()
            if generator.returncode:
                raise RuntimeError(f"load generator exited with {generator.returncode}")
            result = json.loads(stdout)
            result["events"] = _event_statuses()
        tps = _pgbench(f"{args.db}_pgbench", log)
    finally:
        if generator is not None and generator.poll() is None:
            generator.kill()
            generator.wait()
        log.close()

    cores = os.cpu_count()
    mode = "gthread" if args.threads > 1 else "sync"
    if args.server == "granian":
        mode = "WSGI"
    print(
        f"{args.server}: {args.workers} {mode} workers x {args.threads} thread(s), {cores} cores, "
        "events "
        + (
            f"on a Celery worker (Redis, {args.worker_pool} pool x {args.worker_concurrency})"
            if broker
            else "inline"
        )
    )
    header = f"  {'operation':<15} {'requests':>7} {'errors':>6} {'req/s':>9}"
    header += f" {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    print(f"\nopen loop: {args.rate:g} requests/s offered for {args.duration:g} s")
    print(header)
    generator_cpu = result["open_loop"].pop("generator_cpu_ms")
    for name, s in result["open_loop"].items():
        print(_row(name, s))
    print(f"  (load generator CPU {generator_cpu} ms/request)")
    print(
        f"\nsaturation: closed loop, {args.concurrency} clients, "
        f"{args.saturation_seconds:g} s per operation"
    )
    print(header)
    for name, s in result["saturation"].items():
        print(
            _row(name, s) + f"   (CPU ms/request: web {s['server_cpu_ms']}, Celery worker"
            f" {s['worker_cpu_ms']}, PostgreSQL {s['postgres_cpu_ms']},"
            f" load generator {s['generator_cpu_ms']})"
        )
    print(f"\nevents after the run: {result['events']}")
    print(f"waited for the event backlog after each phase (s): {result['drained_s']}")
    rewards = result["saturation"]["reward_create"]["throughput"]
    bulk = BATCH * result["saturation"]["reward_batch"]["throughput"]
    print(f"\npgbench TPC-B (-c 8 -j 2 -T 10, scale 10): {tps:.0f} tps")
    print(f"reward creations/s at saturation / pgbench tps = {rewards / tps:.3f}")
    print(
        f"bulk: {bulk:.0f} rewards/s in batches of {BATCH} ({BATCH_CLIENTS} clients);"
        f" / single-request rewards/s = {bulk / max(rewards, 0.1):.1f}x;"
        f" / pgbench tps = {bulk / tps:.2f}x"
    )
    _print_budget(result["saturation"], cores or 1, args.rate)
    return 0


def _all_in(s: dict[str, Any]) -> float:
    """CPU ms one request cost every process on the machine (the load generator included)."""
    return s["server_cpu_ms"] + s["worker_cpu_ms"] + s["postgres_cpu_ms"] + s["generator_cpu_ms"]


def _print_budget(saturation: dict[str, Any], cores: int, rate: float) -> None:
    """What the measured CPU per request allows on this machine: the server, PostgreSQL and
    the load generator share its cores, so CPU per request bounds the throughput."""
    budget = 1000.0 * cores  # CPU ms per second
    reward, floor = saturation["reward_create"], saturation["healthz"]
    postgres = reward["postgres_cpu_ms"]
    print(f"\nCPU budget: {cores} cores = {budget:.0f} CPU ms per second")
    print(
        f"  reward creation, all in {_all_in(reward):.1f} ms: at most"
        f" {budget / _all_in(reward):.0f}/s; its PostgreSQL share ({postgres} ms) alone caps"
        f" it at {budget / postgres:.0f}/s"
    )
    print(
        f"  HTTP floor (/healthz: gunicorn, Django middleware, load generator; no database):"
        f" {_all_in(floor):.2f} ms; PostgreSQL's share plus that floor, with no application"
        f" code at all: {budget / (postgres + _all_in(floor)):.0f}/s"
    )
    needed = sum(weight * _all_in(saturation[op]) for op, weight in MIX) * rate
    print(
        f"  the open-loop mix at {rate:g} req/s needs {needed:.0f} CPU ms per second"
        f" ({needed / budget:.0%} of the machine)"
    )


# --- gunicorn against granian (issue 16: "measure ... and keep the faster") ----------------


class Granian(Gunicorn):
    """granian (Rust HTTP server, WSGI interface) on the same app and port scheme as Gunicorn:
    `workers` processes with `threads` blocking threads each (the threads that run Django,
    as gunicorn's gthread threads do); CPU is counted over the master's children the same way."""

    def start(self, timeout: float = 60) -> Granian:
        port = self.env["GUNICORN_BIND"].rsplit(":", 1)[1]
        cmd = [PYTHON, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1"]
        cmd += ["--port", port, "--workers", self.env["GUNICORN_WORKERS"]]
        cmd += ["--blocking-threads", self.env["GUNICORN_THREADS"], "--no-ws"]
        cmd += ["--no-access-log", "--log-level", "warning", "config.wsgi:application"]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_http(f"{self.url}/healthz", timeout=timeout, proc=self.proc)
        return self


SERVERS: dict[str, type[Gunicorn]] = {"gunicorn": Gunicorn, "granian": Granian}
SERVER_OPS = ("reward_create", "healthz")  # the comparison: one reward per request, the floor


async def _generate_servers(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed loop on SERVER_OPS against one server, with the CPU each request cost the web
    server, PostgreSQL and this generator (no broker: no events, no Celery worker)."""
    import aiohttp
    import psycopg

    connector = aiohttp.TCPConnector(limit=256)
    session = aiohttp.ClientSession(
        base_url=spec["url"],
        headers={"Authorization": f"Bearer {spec['key']}"},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=TIMEOUT),
    )
    out: dict[str, Any] = {}
    async with session:
        await _closed_loop(session, "reward_create", 8, 2)  # warm-up: imports, connections
        conn = await psycopg.AsyncConnection.connect(spec["admin_database"], autocommit=True)
        for op in SERVER_OPS:
            web = _cpu_seconds(spec["server_pid"])
            pg = await _postgres_cpu(conn)
            own = time.process_time()
            samples, elapsed = await _closed_loop(
                session, op, spec["concurrency"], spec["saturation_seconds"]
            )
            out[op] = summary = _summary(samples[op], elapsed)
            ok = max(summary["ok"], 1)
            summary["server_cpu_ms"] = round(
                1000 * cpu_between(web, _cpu_seconds(spec["server_pid"])) / ok, 2
            )
            summary["postgres_cpu_ms"] = round(1000 * (await _postgres_cpu(conn) - pg) / ok, 2)
            summary["generator_cpu_ms"] = round(
                1000 * (time.process_time() - own) / max(summary["requests"], 1), 2
            )
        await conn.close()
    return out


def _compare_servers(args: argparse.Namespace) -> int:
    """gunicorn and granian in turns (ABBA... so a drift of the machine or of the growing table
    falls on both), same database, same app, same worker and thread counts."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    database = database_recreate(args.db)
    key = _setup(database, "")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per readiness probe
    env = server_env(
        database,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DJANGO_SECURE_SSL_REDIRECT="false",
        API_RATE_LIMIT="10000000/min",
        CELERY_BROKER_URL="",
        INLINE_SCHEDULER="false",  # no periodic jobs in the web processes during the runs
    )
    pairs = [("gunicorn", "granian"), ("granian", "gunicorn")]
    order = [name for i in range(args.rounds) for name in pairs[i % 2]]
    runs: dict[str, list[dict[str, Any]]] = {"gunicorn": [], "granian": []}
    log = open(args.log, "w")  # noqa: SIM115  (closed at the end; servers write to it)
    try:
        for name in order:
            server = SERVERS[name](env, workers=args.workers, threads=args.threads, log=log)
            with stopping(server):
                server.start()
                assert server.proc is not None  # start() spawned it
                spec = {
                    "servers": True,
                    "url": server.url,
                    "server_pid": server.proc.pid,
                    "admin_database": PG_ADMIN_URL,
                    "key": key,
                    "concurrency": args.concurrency,
                    "saturation_seconds": args.saturation_seconds,
                }
                run = subprocess.run(
                    [PYTHON, __file__, "--generate", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[name].append(json.loads(run.stdout))
    finally:
        log.close()
        database_drop(args.db)

    print(
        f"gunicorn against granian: {args.workers} workers x {args.threads} threads each"
        f" (gunicorn {'gthread' if args.threads > 1 else 'sync'}, granian WSGI blocking"
        f" threads), {args.concurrency} clients, {args.saturation_seconds:g} s per operation,"
        f" turns {' '.join(order)}, {os.cpu_count()} cores"
    )
    header = f"  {'server':<9} {'operation':<14} {'requests':>8} {'errors':>6} {'req/s':>8}"
    print(header + f" {'p50 ms':>7} {'p99 ms':>7}   CPU ms/request: web, PostgreSQL, generator")
    best: dict[str, float] = {}
    for name, results in runs.items():
        for op in SERVER_OPS:
            for s in (r[op] for r in results):
                print(
                    f"  {name:<9} {op:<14} {s['requests']:>8} {sum(s['errors'].values()):>6}"
                    f" {s['throughput']:>8.1f} {s['p50_ms'] or 0:>7.1f} {s['p99_ms'] or 0:>7.1f}"
                    f"   {s['server_cpu_ms']:>5.2f} {s['postgres_cpu_ms']:>5.2f}"
                    f" {s['generator_cpu_ms']:>5.2f}"
                )
        best[name] = max(r["reward_create"]["throughput"] for r in results)
    ratio = best["granian"] / best["gunicorn"]
    print(
        f"\nreward creation, best turn: granian {best['granian']:.0f}/s, gunicorn"
        f" {best['gunicorn']:.0f}/s, granian / gunicorn = {ratio:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
