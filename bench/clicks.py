"""The referral redirect under saturation, beside /healthz in the same run (issue 13).

    .venv/bin/python bench/clicks.py [--concurrency 32] [--seconds 10] [--rounds 2]
                                     [--workers 4] [--threads 2] [--db bench_clicks]
                                     [--buffer-seconds 0]

Creates a scratch PostgreSQL database (--db, dropped first and at the end), migrates it, makes a
program with a landing URL and 200 participants through the services, starts gunicorn on
127.0.0.1 (config/gunicorn.conf.py, no broker: the inline scheduler runs as in the embedded
deployment) and, from a load generator in another process (asyncio + aiohttp, as bench/load.py),
runs closed loops of N clients as fast as the server answers, alternating `GET /healthz`
(gunicorn and Django's middleware, no view work: the HTTP floor) and `GET /r/{code}` over the
participants' codes (a lookup, one INSERT, a 302 with the cookie; redirects not followed),
--rounds times each. It prints throughput and latency per phase, the CPU each request cost the
web workers and PostgreSQL, the ratio clicks/healthz against the target (60%), and checks that
the database holds exactly one click per successful redirect (counted after the server's
graceful stop, so buffered clicks, --buffer-seconds > 0, must have been written by then).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import (  # noqa: E402
    PG_ADMIN_URL,
    PYTHON,
    Gunicorn,
    children_of,
    cpu_between,
    cpu_sample,
    database_drop,
    database_recreate,
    process_cpu,
    server_env,
    stopping,
)

SLUG = "bench"
PARTICIPANTS = 200
TARGET = 0.60
TIMEOUT = 10.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

# --- the load generator (its own process: `clicks.py --generate SPEC`) -----------------------


async def _phase(session, paths: list[str], expected: int, concurrency: int, seconds: float):
    samples: list[tuple[float, bool]] = []
    end = time.perf_counter() + seconds

    async def user(offset: int) -> None:
        i = offset
        while time.perf_counter() < end:
            path = paths[i % len(paths)]
            i += concurrency
            started = time.perf_counter()
            try:
                async with session.get(path, allow_redirects=False) as response:
                    await response.read()
                    ok = response.status == expected
            except Exception:  # a refused or reset connection is an error, not a crash
                ok = False
            samples.append((time.perf_counter() - started, ok))

    t0 = time.perf_counter()
    await asyncio.gather(*(user(n) for n in range(concurrency)))
    return samples, time.perf_counter() - t0


def _postgres_cpu(datadir: str) -> float:
    postmaster = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return reaped + process_cpu(postmaster) + sum(process_cpu(p) for p in children_of(postmaster))


async def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=256)
    session = aiohttp.ClientSession(
        base_url=spec["url"],
        headers={"User-Agent": BROWSER},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=TIMEOUT),
    )
    clicks = [f"/r/{code}" for code in spec["codes"]]
    phases = {"healthz": (["/healthz"], 200), "click": (clicks, 302)}
    out: dict[str, list] = {"healthz": [], "click": []}
    warmup: dict[str, int] = {}
    async with session:
        for name, (paths, expected) in phases.items():  # warm-up: imports, connections
            samples, _ = await _phase(session, paths, expected, 8, 2)
            warmup[name] = sum(1 for _, good in samples if good)
        for _ in range(spec["rounds"]):
            for name, (paths, expected) in phases.items():
                web, pg = cpu_sample(spec["server_pid"]), _postgres_cpu(spec["datadir"])
                samples, elapsed = await _phase(
                    session, paths, expected, spec["concurrency"], spec["seconds"]
                )
                ok = sorted(lat for lat, good in samples if good)
                n = max(len(ok), 1)
                out[name].append(
                    {
                        "requests": len(samples),
                        "ok": len(ok),
                        "throughput": round(len(ok) / elapsed, 1),
                        "p50_ms": round(1000 * ok[len(ok) // 2], 1) if ok else None,
                        "p99_ms": round(1000 * ok[min(len(ok) - 1, int(0.99 * len(ok)))], 1)
                        if ok
                        else None,
                        "web_cpu_ms": round(
                            1000 * cpu_between(web, cpu_sample(spec["server_pid"])) / n, 2
                        ),
                        "postgres_cpu_ms": round(
                            1000 * (_postgres_cpu(spec["datadir"]) - pg) / n, 2
                        ),
                    }
                )
    return {"phases": out, "warmup_clicks": warmup["click"]}


# --- the orchestrator -----------------------------------------------------------------------


def _setup(database: str) -> list[str]:
    os.environ.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=database,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        CELERY_BROKER_URL="",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from rules.rewards.services.program_settings import program_update
    from rules.rewards.services.programs import program_create
    from rules.services.participants import participant_get_or_create

    call_command("migrate", verbosity=0)
    program, _ = program_create(slug=SLUG, name="Bench", currency="INR")
    program_update(
        program=program,
        changes={
            "landing_url": "https://shop.example.com/welcome?lang=en",
            "allowed_domains": ["example.com"],
        },
        actor="bench",
    )
    codes = [
        participant_get_or_create(program=program, external_id=f"p{i}", actor="bench")[
            0
        ].referral_code
        for i in range(PARTICIPANTS)
    ]
    connections.close_all()
    return codes


def _click_count() -> int:
    from django.db import connections

    from rules.links.models import Click

    count = Click.objects.count()
    connections.close_all()
    return count


def _datadir() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL) as conn:
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
    assert row is not None
    return row[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10, help="per phase")
    parser.add_argument("--rounds", type=int, default=2, help="healthz + clicks, this many times")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--db", default="bench_clicks")
    parser.add_argument(
        "--buffer-seconds",
        type=float,
        default=0,
        help="CLICK_BUFFER_SECONDS for the server (0: each redirect inserts its click)",
    )
    parser.add_argument("--log", default="/tmp/bench_clicks.log")
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(asyncio.run(_generate(json.loads(args.generate)))))
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    database = database_recreate(args.db)
    log = open(args.log, "w")  # noqa: SIM115  (closed at the end; servers write to it)
    generator: subprocess.Popen | None = None
    try:
        codes = _setup(database)
        env = server_env(
            database,
            DJANGO_SETTINGS_MODULE="bench.clicks_settings"
            if args.buffer_seconds
            else "config.settings.base",
            DJANGO_SECURE_SSL_REDIRECT="false",
            CELERY_BROKER_URL="",
            CLICK_BUFFER_SECONDS=str(args.buffer_seconds),
        )
        server = Gunicorn(env, workers=args.workers, threads=args.threads, log=log)
        with stopping(server):
            server.start()
            assert server.proc is not None
            spec = {
                "url": server.url,
                "server_pid": server.proc.pid,
                "datadir": _datadir(),
                "codes": codes,
                "concurrency": args.concurrency,
                "seconds": args.seconds,
                "rounds": args.rounds,
            }
            generator = subprocess.Popen(
                [PYTHON, __file__, "--generate", json.dumps(spec)],
                stdout=subprocess.PIPE,
                text=True,
            )
            stdout, _ = generator.communicate()
            if generator.returncode:
                raise RuntimeError(f"load generator exited with {generator.returncode}")
            result = json.loads(stdout)["phases"]
            warmup_clicks = json.loads(stdout)["warmup_clicks"]
        stored = _click_count()
    finally:
        if generator is not None and generator.poll() is None:
            generator.kill()
            generator.wait()
        log.close()
        database_drop(args.db)

    mode = "gthread" if args.threads > 1 else "sync"
    print(
        f"gunicorn: {args.workers} {mode} workers x {args.threads} thread(s), "
        f"{os.cpu_count()} cores; closed loop, {args.concurrency} clients, {args.seconds:g} s "
        f"per phase, {args.rounds} round(s); "
        + (
            f"clicks buffered (CLICK_BUFFER_SECONDS={args.buffer_seconds:g})"
            if args.buffer_seconds
            else "one insert per click"
        )
    )
    print(
        f"  {'phase':<8} {'requests':>8} {'ok':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'web CPU ms':>10} {'PG CPU ms':>9}"
    )
    for name, rounds in result.items():
        for r in rounds:
            print(
                f"  {name:<8} {r['requests']:>8} {r['ok']:>7} {r['throughput']:>8.1f}"
                f" {r['p50_ms'] or 0:>7.1f} {r['p99_ms'] or 0:>7.1f}"
                f" {r['web_cpu_ms']:>10.2f} {r['postgres_cpu_ms']:>9.2f}"
            )
    health = sum(r["throughput"] for r in result["healthz"]) / len(result["healthz"])
    clicks = sum(r["throughput"] for r in result["click"]) / len(result["click"])
    ratio = clicks / health
    print(f"\nmean: healthz {health:.1f}/s, click redirects {clicks:.1f}/s")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"clicks / healthz = {ratio:.2f} (target >= {TARGET:.2f}: {verdict})")
    redirected = warmup_clicks + sum(r["ok"] for r in result["click"])
    print(
        f"clicks stored {stored}, successful redirects {redirected} (warm-up included): "
        + ("one row per redirect" if stored == redirected else "MISMATCH")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
