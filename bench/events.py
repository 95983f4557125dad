"""Events end to end: POST → processed → rewards in the ledger, inline and on a Celery worker.

    .venv/bin/python bench/events.py [--events 1000] [--clients 8] [--workers 4] [--broker URL]
                                     [--batch 100]

Creates the scratch PostgreSQL database bench_events_<pid> (one per run, dropped at the end),
migrates it and, for each mode, a program seeded through the services like the demo: the SPEC
example rule (premium subscriptions reward a paid referrer) and the demo's two-level purchase
commission (10% to the referrer, 2% to the referrer's referrer, at most 20 rewards per
beneficiary a month), and a three-level referral tree (4 top referrers, 10 referrers under each, 10 customers
under each of those). Then, per mode, a real gunicorn server (config/gunicorn.conf.py, 127.0.0.1)
receives N events over HTTP from --clients threads (each event posted once, purchases and
subscription starts from the customers), and the clock stops when every event is processed:

1. inline: no broker (the embedded default): each event is processed in the request that
   received it, after its commit (and the inline scheduler runs in the workers);
2. celery: CELERY_BROKER_URL=redis://127.0.0.1:6379/13 (--broker; flushed first: bench/load.py
   uses the same database, so do not run both at once) and one Celery worker process with a
   prefork pool of 2, started by the script.

3. and 4., unless --batch 0: the same two with the events sent 100 per request
   (`POST P/events/batch`) and processed in batches (rules.services.event_batch: one claim and
   one transaction per batch, a savepoint per event), printed as a ratio to the single modes.

Afterwards it checks, per mode, that every event is processed (none failed), that the rewards
booked match the count and amount computed from the tree and the rules (limits included), and
that a reconciliation over the whole ledger run after the mode is clean. Everything it started is stopped on exit.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import (  # noqa: E402
    CeleryWorker,
    Gunicorn,
    database_drop,
    database_recreate,
    server_env,
    stopping,
)

# Per run, like the test settings' database (TEST_RUN_ID): two runs on one machine must not
# drop each other's database.
DB = f"bench_events_{os.getpid()}"
BROKER = "redis://127.0.0.1:6379/13"
TOPS, MIDS_PER_TOP, LEAVES_PER_MID = 4, 10, 10
PURCHASE_AMOUNT = 250_000
OCCURRED_AT = "2026-03-10T12:00:00Z"  # one calendar month, so the monthly limit is exact
WARMUP_EVENTS = 8


@dataclass
class Tree:
    """leaf → (its referrer, that referrer's referrer); which referrers are paid users."""

    parents: dict[str, tuple[str, str]] = field(default_factory=dict)
    paid: set[str] = field(default_factory=set)
    edges: list[tuple[str, str]] = field(default_factory=list)


def tree_build() -> Tree:
    tree = Tree()
    for t in range(TOPS):
        top = f"top{t}"
        for m in range(MIDS_PER_TOP):
            mid = f"mid{t}-{m}"
            tree.edges.append((top, mid))
            if m % 2 == 0:
                tree.paid.add(mid)
            for leaf_no in range(LEAVES_PER_MID):
                leaf = f"leaf{t}-{m}-{leaf_no}"
                tree.edges.append((mid, leaf))
                tree.parents[leaf] = (mid, top)
    return tree


def events_plan(slug: str, tree: Tree, n: int) -> list[dict[str, Any]]:
    """N events cycling over the customers: a round of purchases, then a round of subscription
    starts, and so on. A customer's plan never changes, so the facts each event is evaluated
    with do not depend on the order in which the events are processed."""
    leaves = list(tree.parents)
    events = []
    for k in range(n):
        index, round_ = k % len(leaves), k // len(leaves)
        leaf = leaves[index]
        event: dict[str, Any] = {"id": f"{slug}-{k}", "user": leaf, "occurred_at": OCCURRED_AT}
        if round_ % 2 == 0:
            event |= {"type": "purchase", "data": {"amount": PURCHASE_AMOUNT}}
        else:
            plan = "premium" if index % 2 == 0 else "basic"
            event |= {
                "type": "subscription_started",
                "attributes": {"subscription_plan": plan},
                "data": {"plan": plan},
            }
        events.append(event)
    return events


def rewards_expected(tree: Tree, events: list[dict[str, Any]], rules: dict[str, Any]) -> tuple:
    """(count, amount) of the rewards the rules must book for these events."""
    premium = rules["premium"]["actions"][0]["params"]["amount"]
    direct, override = (a["params"] for a in rules["commission"]["actions"])
    cap = rules["commission"]["limits"]["per_beneficiary"]["max_rewards"]
    wanted: Counter[str] = Counter()  # commission rewards each beneficiary would get unlimited
    amount_of: dict[str, int] = {}
    count = amount = 0
    for event in events:
        referrer, parent = tree.parents[event["user"]]
        if event["type"] == "purchase":
            for who, params in ((referrer, direct), (parent, override)):
                wanted[who] += 1
                amount_of[who] = min(PURCHASE_AMOUNT * params["rate_bps"] // 10000, params["cap"])
        elif event["data"]["plan"] == "premium" and referrer in tree.paid:
            count, amount = count + 1, amount + premium
    for who, n in wanted.items():
        booked = min(n, cap)
        count, amount = count + booked, amount + booked * amount_of[who]
    return count, amount


# --- Django in this process (setup and checks) -------------------------------------------------


def django_setup(database: str) -> None:
    os.environ.update(
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(40),
        FIELD_ENCRYPTION_KEYS=os.environ.get("FIELD_ENCRYPTION_KEYS")
        or base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=database,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        CELERY_BROKER_URL="",  # setup's own events (referral_created) are processed here
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def demo_rules() -> dict[str, Any]:
    from rules.management.commands.seed_demo import COMMISSION_RULE, PREMIUM_RULE

    return {"premium": PREMIUM_RULE, "commission": COMMISSION_RULE}


def program_seed(slug: str, tree: Tree) -> str:
    """A program with the demo rules and the referral tree; returns an API key."""
    from django.db import connections

    from config.platform.api_keys import api_key_create
    from rules.rewards.services.programs import program_create
    from rules.services.participants import participant_upsert
    from rules.services.referrals import referral_create
    from rules.services.rules import rule_create, rule_publish

    actor = "bench:events"
    program, _ = program_create(slug=slug, name=f"Events bench ({slug})", currency="INR")
    key = api_key_create(program=program, name="bench")[1]
    for definition in demo_rules().values():
        rule = rule_create(program=program, definition=definition, actor=actor)
        rule_publish(rule=rule, actor=actor)
    referrers = {referrer for referrer, _ in tree.edges}
    for who in sorted(referrers):
        attributes = {"is_paid_user": who in tree.paid}
        participant_upsert(program=program, external_id=who, attributes=attributes, actor=actor)
    for referrer, referred in tree.edges:
        referral_create(program=program, referrer=referrer, referred=referred, actor=actor)
    connections.close_all()
    return key


def events_status(slug: str, prefix: str) -> Counter[str]:
    from django.db import connections

    from rules.models import Event

    rows = Event.objects.filter(program__slug=slug, event_id__startswith=prefix)
    counts = Counter(rows.values_list("status", flat=True))
    connections.close_all()
    return counts


def rewards_booked(slug: str) -> tuple[int, int]:
    from django.db.models import Count, Sum

    from rules.rewards.models import Reward

    row = Reward.objects.filter(program__slug=slug).aggregate(n=Count("id"), s=Sum("amount"))
    return row["n"], row["s"] or 0


def broker_claim(url: str) -> None:
    """Flush the Redis database, refusing when another client uses it: a second Celery
    worker there (bench/load.py uses the same default) would take half of our tasks."""
    import redis

    with redis.Redis.from_url(url, single_connection_client=True) as client:
        me = str(client.client_id())
        db = str(client.connection_pool.connection_kwargs.get("db", 0))
        others = [c for c in client.client_list() if str(c.get("db")) == db and c["id"] != me]
        if others:
            raise RuntimeError(
                f"{len(others)} other client(s) use {url} (is bench/load.py running?); "
                "wait for them or pass --broker redis://127.0.0.1:6379/<free db>"
            )
        client.flushdb()


# --- HTTP ----------------------------------------------------------------------------------


def post_all(
    url: str, key: str, slug: str, events: list[dict[str, Any]], clients: int, batch: int = 0
) -> None:
    """POST every event once from `clients` threads (keep-alive connections), one per request
    or, with `batch`, that many per POST events/batch; any answer but 202 (for the request and
    each of its events) stops the run."""
    import httpx

    chunks: list[list[dict[str, Any]]] = (
        [events[i : i + batch] for i in range(0, len(events), batch)]
        if batch
        else [[e] for e in events]
    )
    queue = iter(chunks)
    lock = threading.Lock()
    errors: list[str] = []

    def client() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            while not errors:
                with lock:
                    chunk = next(queue, None)
                if chunk is None:
                    return
                if batch:
                    path = f"/api/v1/programs/{slug}/events/batch"
                    response = http.post(path, json={"events": chunk})
                    bad = response.status_code != 202 or any(
                        r["status"] != 202 for r in response.json()["results"]
                    )
                else:
                    response = http.post(f"/api/v1/programs/{slug}/events", json=chunk[0])
                    bad = response.status_code != 202
                if bad:
                    errors.append(f"{chunk[0]['id']}: {response.status_code} {response.text[:300]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"POST failed: {errors[0]}")


def wait_processed(slug: str, prefix: str, n: int, timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        counts = events_status(slug, prefix)
        if counts["processed"] + counts["failed"] >= n:
            return counts
        if time.monotonic() > deadline:
            raise RuntimeError(f"{slug}: not processed within {timeout:g} s: {dict(counts)}")
        time.sleep(0.05)


def run_mode(
    name: str,
    *,
    database: str,
    broker: str,
    tree: Tree,
    args: argparse.Namespace,
    log,
    batch: int = 0,
) -> dict[str, Any]:
    key = program_seed(name, tree)
    events = events_plan(name, tree, args.events)
    env = server_env(
        database,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DJANGO_SECURE_SSL_REDIRECT="false",
        API_RATE_LIMIT="10000000/min",
        CELERY_BROKER_URL=broker,
    )
    server = Gunicorn(env, workers=args.workers, log=log)
    worker = CeleryWorker(env, concurrency=2, log=log)
    with stopping(server, worker):
        if broker:
            broker_claim(broker)
            worker.start()
        server.start()
        # Warm-up (not timed): every worker loads its code and connects; the Celery worker is
        # up when these are processed. Their user has no referrer, so they book nothing.
        warmup = [
            {"id": f"warm-{name}-{i}", "type": "purchase", "user": "warmup", "data": {"amount": 1}}
            for i in range(WARMUP_EVENTS)
        ]
        post_all(server.url, key, name, warmup, args.clients)
        wait_processed(name, "warm-", WARMUP_EVENTS, args.timeout)

        started = time.perf_counter()
        post_all(server.url, key, name, events, args.clients, batch=batch)
        posted = time.perf_counter() - started
        counts = wait_processed(name, f"{name}-", len(events), args.timeout)
        elapsed = time.perf_counter() - started
    booked = rewards_booked(name)
    expected = rewards_expected(tree, events, demo_rules())
    from ledger.services.reconciliation import reconciliation_run

    report = reconciliation_run()  # after each mode: clean so far
    return {
        "reconcile": report.status,
        "findings": [str(f) for f in report.findings[:10]],
        "mode": name,
        "events": len(events),
        "posted_s": posted,
        "elapsed_s": elapsed,
        "events_per_s": len(events) / elapsed,
        "statuses": dict(counts),
        "rewards": booked,
        "expected": expected,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="events per mode")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn (sync) workers")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait per mode")
    parser.add_argument("--broker", default=BROKER, help="Redis for the Celery mode")
    parser.add_argument("--log", default="/tmp/bench_events.log", help="server logs go here")
    parser.add_argument(
        "--batch",
        type=int,
        default=100,
        help="events per POST events/batch in the batched modes (0: single modes only)",
    )
    args = parser.parse_args()

    broker_claim(args.broker)  # fail before the long inline run, not after it
    database = database_recreate(DB)
    tree = tree_build()
    results = []
    log = open(args.log, "w")  # noqa: SIM115  (closed at the end; servers write to it)
    try:
        django_setup(database)
        modes = [("inline", "", 0), ("celery", args.broker, 0)]
        if args.batch:
            modes += [("batchinline", "", args.batch), ("batchcelery", args.broker, args.batch)]
        for mode, broker, batch in modes:
            results.append(
                run_mode(
                    mode,
                    database=database,
                    broker=broker,
                    tree=tree,
                    args=args,
                    log=log,
                    batch=batch,
                )
            )
    finally:
        log.close()
        from django.db import connections

        connections.close_all()
        database_drop(DB)

    print(
        f"{args.events} events per mode over HTTP to gunicorn ({args.workers} sync workers, "
        f"{args.clients} clients), PostgreSQL, {os.cpu_count()} cores; tree: {TOPS} top "
        f"referrers, {TOPS * MIDS_PER_TOP} referrers, {len(tree.parents)} customers"
    )
    print(f"  {'mode':<38} {'events/s':>9} {'POSTs s':>8} {'all done s':>10} {'rewards':>8}")
    ok = True
    labels = {
        "inline": "inline (no broker)",
        "celery": "Celery worker (Redis, 1 x prefork 2)",
        "batchinline": f"batched x{args.batch}, inline",
        "batchcelery": f"batched x{args.batch}, Celery worker",
    }
    for r in results:
        label = labels[r["mode"]]
        print(
            f"  {label:<38} {r['events_per_s']:>9.1f} {r['posted_s']:>8.1f}"
            f" {r['elapsed_s']:>10.1f} {r['rewards'][0]:>8}"
        )
        good = r["statuses"] == {"processed": r["events"]} and r["rewards"] == r["expected"]
        good = good and r["reconcile"] == "clean"
        ok = ok and good
        print(
            f"    statuses {r['statuses']}; rewards booked {r['rewards'][0]} "
            f"(amount {r['rewards'][1]}), expected {r['expected'][0]} "
            f"(amount {r['expected'][1]}); reconcile after it: {r['reconcile']}:"
            f" {'ok' if good else 'MISMATCH'}"
        )
        for finding in r["findings"]:
            print(f"      {finding}")
    rate = {r["mode"]: r["events_per_s"] for r in results}
    for single, batched in (("inline", "batchinline"), ("celery", "batchcelery")):
        if batched in rate:
            print(f"batched / single events/s ({single}): {rate[batched] / rate[single]:.1f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
