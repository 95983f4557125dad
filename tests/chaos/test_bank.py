"""A bank test in the Jepsen style: real clients against the real servers while a nemesis
kills processes and database sessions, then an audit of what the system acknowledged.

16 client threads create, confirm and reverse rewards, apply credits, transfer money between
no-overdraft accounts and post events over HTTP (gunicorn, 4 workers; events on a Celery
worker over Redis). A request that gets no definite answer (connection error, 5xx, "request in
progress") is retried with the same Idempotency-Key / nonce / event id; 10% of answered
requests are sent once more on purpose and must replay the first answer. Meanwhile a nemesis
SIGKILLs gunicorn workers, SIGKILLs (and restarts) the Celery worker and terminates every
PostgreSQL session of the test database.

Afterwards, with the events drained (the stuck-event sweeper runs for what the killed workers
left behind): every acknowledged request has exactly one effect, an unacknowledged one at most
one, a rejected one none; the transfer accounts still hold exactly the money they were funded
with and none is negative; every event is processed with exactly one reward; `manage.py
reconcile` exits 0.

Short mode (default) runs in the normal suite; CHAOS_LONG=1 runs the benchmark length
(CHAOS_SECONDS overrides the duration, CHAOS_SEED the random seed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from bench._harness import EVERY_PURCHASE_RULE, PYTHON, ROOT, backends_terminate

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

LONG = os.environ.get("CHAOS_LONG") == "1"
SECONDS = float(os.environ.get("CHAOS_SECONDS") or (180 if LONG else 20))
FAULT_GAP = (2.0, 4.0) if LONG else (1.0, 2.5)  # seconds between two faults
SEED = int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))
CLIENTS = 16
DUPLICATE_SHARE = 0.10
TRIES = 6  # attempts before a request is left unacknowledged
BANK = [f"bank:a{i}" for i in range(8)]
FUNDS = 10_000  # per bank account
SLUG = "acme"

# An answer is definite when it says what happened; anything else is retried.
OK = {
    "reward_create": {201},
    "reward_confirm": {200},
    "reward_reverse": {200},
    "credit": {200, 201},
    "transfer": {201},
    "event": {200, 202},
}
REJECTED = {"credit": {409}, "transfer": {409}}  # insufficient_funds: a definite "no effect"


@dataclass
class Op:
    kind: str
    key: str
    body: dict[str, Any]
    outcome: str = "unknown"  # ok | rejected | unknown
    status: Any = None
    answer: dict[str, Any] | None = None
    attempts: int = 0
    duplicated: bool = False


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)
    # reward key -> statuses it may end in (what the acknowledged steps imply)
    reward_allowed: dict[str, set[str]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)


class Client(threading.Thread):
    def __init__(self, n: int, base: str, key: str, history: History, stop: threading.Event):
        super().__init__(name=f"client-{n}", daemon=True)
        self.n = n
        self.rng = random.Random(SEED * 100 + n)
        self.http = httpx.Client(
            base_url=f"{base}/api/v1/programs/{SLUG}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        self.history = history
        self.stop = stop
        self.seq = 0
        # reward key -> (id, last known status); a reward whose last step went unanswered is
        # left alone from then on, so the allowed final states stay exact.
        self.mine: dict[str, tuple[int, str]] = {}

    def key(self, kind: str) -> str:
        self.seq += 1
        return f"{kind}-{self.n}-{self.seq}"

    def send(self, method: str, path: str, body: Any, headers: dict[str, str]):
        try:
            response = self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.history.statuses[type(exc).__name__] += 1
            return type(exc).__name__, None, {}
        self.history.statuses[response.status_code] += 1
        try:
            data = response.json()
        except ValueError:
            data = None
        return response.status_code, data, response.headers

    def perform(
        self, op: Op, method: str, path: str, headers: dict[str, str], *, keyed: bool = True
    ) -> Op:
        """Send until a definite answer (same key every time); `keyed`: the request carries
        an idempotency key (header, nonce or event id), so a deliberate duplicate is safe."""
        self.history.ops.append(op)
        for attempt in range(1, TRIES + 1):
            op.attempts = attempt
            status, data, _ = self.send(method, path, op.body, headers)
            if status in OK[op.kind] or status in REJECTED.get(op.kind, ()):
                op.outcome = "ok" if status in OK[op.kind] else "rejected"
                op.status, op.answer = status, data
                break
            if isinstance(status, int) and 400 <= status < 500 and status not in (409, 429):
                self.history.violations.append(f"{op.kind} {op.key}: unexpected {status} {data}")
                op.status, op.answer = status, data
                return op
            if status == 409 and (data or {}).get("code") != "idempotency_request_in_progress":
                self.history.violations.append(f"{op.kind} {op.key}: unexpected 409 {data}")
                op.status, op.answer = status, data
                return op
            time.sleep(0.1 * attempt)
        if op.outcome == "ok" and keyed and self.rng.random() < DUPLICATE_SHARE:
            op.duplicated = True
            self.check_replay(op, method, path, headers)
        return op

    def check_replay(self, op: Op, method: str, path: str, headers: dict[str, str]) -> None:
        for _ in range(TRIES):
            status, data, response_headers = self.send(method, path, op.body, headers)
            if status in OK[op.kind] or status in REJECTED.get(op.kind, ()):
                break
        else:
            return  # no answer this time: nothing to compare
        first = (op.answer or {}).get("id")
        again = (data or {}).get("id")
        replayed = op.kind in ("reward_create", "transfer")
        if again != first or (replayed and status != op.status):
            self.history.violations.append(
                f"{op.kind} {op.key}: replay answered {status} {again}, first {op.status} {first}"
            )
        if replayed and response_headers.get("Idempotent-Replayed") != "true":
            self.history.violations.append(f"{op.kind} {op.key}: replay not marked replayed")

    # --- operations ---------------------------------------------------------------------

    def reward_create(self) -> None:
        key = self.key("reward")
        body = {
            "beneficiary": f"b{self.rng.randrange(16)}",
            "amount": self.rng.randint(100, 5_000),
            "currency": "INR",
            "reward_type": "cash",
            "metadata": {"op": key},
        }
        op = self.perform(
            Op("reward_create", key, body), "POST", "rewards", {"Idempotency-Key": key}
        )
        if op.outcome == "ok":
            assert op.answer is not None  # an "ok" outcome carries its answer
            self.mine[key] = (op.answer["id"], "pending")
            self.history.reward_allowed[key] = {"pending"}
        else:
            self.history.reward_allowed[key] = {"pending"}  # if it exists, nobody touched it

    def reward_step(self, kind: str, wanted: str, allowed_from: set[str]) -> None:
        candidates = [k for k, (_, s) in self.mine.items() if s in allowed_from]
        if not candidates:
            return self.reward_create()
        key = self.rng.choice(candidates)
        pk, before = self.mine[key]
        body = {"reason": f"chaos {self.n}"}
        path = f"rewards/{pk}/{kind.removeprefix('reward_')}"
        op = self.perform(Op(kind, key, body), "POST", path, {}, keyed=False)
        if op.outcome == "ok":
            assert op.answer is not None  # an "ok" outcome carries its answer
            self.mine[key] = (pk, wanted)
            self.history.reward_allowed[key] = {wanted}
            if op.answer["status"] != wanted:
                self.history.violations.append(f"{kind} {key}: answered {op.answer['status']}")
        else:
            del self.mine[key]
            self.history.reward_allowed[key] = {before, wanted}

    def credit(self) -> None:
        key = self.key("credit")
        spend = self.rng.random() < 0.4
        body = {
            "owner_id": f"c{self.rng.randrange(8)}",
            "operation": "CREDIT_SPEND" if spend else "CREDIT_ADD",
            "amount": self.rng.randint(1, 60),
            "nonce": key,
        }
        self.perform(Op("credit", key, body), "POST", "credits", {})  # the nonce is the key

    def transfer(self) -> None:
        key = self.key("transfer")
        source, target = self.rng.sample(BANK, 2)
        amount = self.rng.randint(1, 3_000)
        body = {
            "postings": [
                {"account": source, "direction": "debit", "amount": amount},
                {"account": target, "direction": "credit", "amount": amount},
            ],
            "description": "chaos transfer",
            "metadata": {"op": key},
        }
        self.perform(Op("transfer", key, body), "POST", "transactions", {"Idempotency-Key": key})

    def event(self) -> None:
        key = self.key("event")
        body = {"id": key, "type": "purchase", "user": f"e{self.rng.randrange(32)}"}
        self.perform(Op("event", key, body), "POST", "events", {})  # the id is the key

    def run(self) -> None:
        actions = [
            (self.reward_create, 30),
            (lambda: self.reward_step("reward_confirm", "confirmed", {"pending"}), 15),
            (
                lambda: self.reward_step("reward_reverse", "reversed", {"pending", "confirmed"}),
                10,
            ),
            (self.credit, 20),
            (self.transfer, 15),
            (self.event, 10),
        ]
        functions, weights = zip(*actions, strict=True)
        try:
            while not self.stop.is_set():
                self.rng.choices(functions, weights)[0]()
        except Exception as exc:  # a client bug must fail the test, not vanish with the thread
            self.history.violations.append(f"client {self.n} crashed: {exc!r}")
        finally:
            self.http.close()


class Nemesis(threading.Thread):
    KINDS = ("kill_gunicorn_worker", "kill_celery_worker", "terminate_pg_backends")

    def __init__(self, web, worker, dbname: str, spare: int, stop: threading.Event):
        super().__init__(name="nemesis", daemon=True)
        self.web, self.worker, self.dbname, self.spare = web, worker, dbname, spare
        self.stop = stop
        self.rng = random.Random(SEED)
        self.faults: Counter = Counter()
        self.terminated_sessions = 0
        self.errors: list[str] = []

    def run(self) -> None:
        turn = 0
        while not self.stop.wait(self.rng.uniform(*FAULT_GAP)):
            kind = self.KINDS[turn % len(self.KINDS)]
            turn += 1
            try:
                if kind == "kill_gunicorn_worker":
                    workers = self.web.workers()
                    if not workers:
                        continue  # the master is between respawns
                    os.kill(self.rng.choice(workers), signal.SIGKILL)
                elif kind == "kill_celery_worker":
                    self.worker.kill()
                    self.worker.start()
                else:
                    self.terminated_sessions += backends_terminate(self.dbname, spare=(self.spare,))
                self.faults[kind] += 1
            except Exception as exc:
                self.errors.append(f"{kind}: {exc!r}")


@pytest.fixture
def bank(transactional_db):
    """The program, its key, a rule that rewards every purchase, and funded bank accounts."""
    from config.platform.api_keys import api_key_create
    from ledger.booking.lines import PostingLine
    from ledger.services.accounts import account_create
    from ledger.services.transactions import transaction_create
    from rules.rewards.services.programs import program_create
    from rules.services.rules import rule_create, rule_publish
    from tests.conftest import ensure_groups

    ensure_groups()  # the key acts as the api-acme service identity, an "api clients" member
    program, _ = program_create(slug=SLUG, name="Chaos", currency="INR")
    key = api_key_create(program=program, name="chaos")[1]
    rule_publish(
        rule=rule_create(program=program, definition=EVERY_PURCHASE_RULE, actor="test"),
        actor="test",
    )
    account_create(program=program, code="bank:reserve", kind="equity", currency="INR")
    for code in BANK:
        account_create(
            program=program, code=code, kind="liability", currency="INR", no_overdraft=True
        )
    transaction_create(
        program=program,
        postings=[
            PostingLine("bank:reserve", "debit", FUNDS * len(BANK)),
            *(PostingLine(code, "credit", FUNDS) for code in BANK),
        ],
        description="funding",
    )
    return program, key


def _drain_events(program) -> int:
    """Wait for the Celery worker, then sweep what killed workers left behind; returns how many
    events the sweeper handed back."""
    from rules.models import Event
    from rules.services.processing import HANDOFF_GRACE, STUCK_AFTER, event_process
    from rules.services.processing import events_requeue_stuck as sweep

    open_states = ["received", "processing"]
    for _ in range(300):  # liveness guard for the worker: up to ~30 s
        if not Event.objects.filter(program=program, status__in=open_states).exists():
            return 0
        time.sleep(0.1)
    swept = 0
    for _ in range(10):
        # As if the sweeper ran STUCK_AFTER later: nothing is in flight any more.
        due = sweep(now=timezone.now() + STUCK_AFTER + HANDOFF_GRACE + timedelta(seconds=1))
        swept += len(due)
        for pk in due:
            event_process(event_pk=pk)
        if not Event.objects.filter(program=program, status__in=open_states).exists():
            break
    return swept


def _audit(program, history: History) -> list[str]:
    from ledger.models import Account, Transaction
    from ledger.selectors import account_balance
    from rules.models import Event
    from rules.rewards.models import CreditEntry, Reward
    from rules.rewards.services.credits import credits_balance

    problems = list(history.violations)
    rewards = Reward.objects.filter(program=program)
    by_op = defaultdict(list)
    for pk, op_key, status in rewards.values_list("pk", "metadata__op", "status"):
        if op_key:
            by_op[op_key].append((pk, status))
    credits = defaultdict(list)
    for nonce, amount in CreditEntry.objects.filter(program=program).values_list("nonce", "amount"):
        credits[nonce].append(amount)
    transfers = defaultdict(list)
    for txn_pk, op_key in Transaction.objects.filter(
        program=program, metadata__has_key="op"
    ).values_list("pk", "metadata__op"):
        transfers[op_key].append(txn_pk)
    events = dict(Event.objects.filter(program=program).values_list("event_id", "status"))
    expected_effects: dict[str, dict[str, list[Any]]] = {
        "reward_create": by_op,
        "credit": credits,
        "transfer": transfers,
    }

    def found(kind: str, key: str) -> int:
        if kind == "event":
            return int(key in events)
        return len(expected_effects[kind][key]) if key in expected_effects[kind] else 0

    for op in history.ops:
        if op.kind in ("reward_confirm", "reward_reverse"):
            continue  # checked through the reward's final status below
        n = found(op.kind, op.key)
        want = {"ok": (1, 1), "rejected": (0, 0), "unknown": (0, 1)}[op.outcome]
        if not want[0] <= n <= want[1]:
            problems.append(
                f"{op.kind} {op.key} ({op.outcome}, status {op.status}, {op.attempts} attempts,"
                f" duplicated {op.duplicated}): {n} effects in the database"
            )
        if op.kind == "credit" and op.outcome == "ok" and n == 1:
            sign = -1 if op.body["operation"] == "CREDIT_SPEND" else 1
            if credits[op.key][0] != sign * op.body["amount"]:
                problems.append(f"credit {op.key}: amount {credits[op.key][0]}, asked {op.body}")
    sent = {op.key for op in history.ops}
    for key in [*by_op, *credits, *transfers]:
        if key not in sent:
            problems.append(f"{key}: in the database but never requested")
    for key, rows in by_op.items():
        allowed = history.reward_allowed.get(key, set())
        for pk, status in rows:
            if status not in allowed:
                problems.append(f"reward {pk} ({key}): status {status}, expected one of {allowed}")
    # The bank: money only moved between the funded accounts, none overdrawn.
    balances = {
        a.code: account_balance(a)["posted"]["balance"]
        for a in Account.objects.filter(program=program, code__in=BANK)
    }
    if sum(balances.values()) != FUNDS * len(BANK) or min(balances.values()) < 0:
        problems.append(f"bank accounts hold {balances}, total {sum(balances.values())}")
    for owner in {op.body["owner_id"] for op in history.ops if op.kind == "credit"}:
        entries = CreditEntry.objects.filter(program=program, owner_id=owner)
        total = sum(entries.values_list("amount", flat=True))
        balance = credits_balance(program=program, owner_id=owner)
        if balance != total or balance < 0:
            problems.append(f"credits of {owner}: balance {balance}, entries sum to {total}")
    # Events: all processed, each paid exactly once.
    event_rewards = Counter(
        rewards.filter(metadata__has_key="event").values_list("metadata__event", flat=True)
    )
    for event_id, status in events.items():
        if status != "processed":
            problems.append(f"event {event_id}: {status} after recovery")
        elif event_rewards[event_id] != 1:
            problems.append(f"event {event_id}: {event_rewards[event_id]} rewards")
    return problems


def _reconcile(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", "reconcile"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_acknowledged_requests_survive_killed_workers_and_sessions(
    bank, servers, server_environment
):
    program, key = bank
    web, worker = servers
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own_session,) = cursor.fetchone()
    history = History()
    stop_clients, stop_nemesis = threading.Event(), threading.Event()
    clients = [Client(n, web.url, key, history, stop_clients) for n in range(CLIENTS)]
    nemesis = Nemesis(web, worker, connection.settings_dict["NAME"], own_session, stop_nemesis)
    started = time.monotonic()
    for client in clients:
        client.start()
    nemesis.start()
    try:
        time.sleep(SECONDS)
    finally:
        stop_nemesis.set()
        nemesis.join(60)
        stop_clients.set()
        for client in clients:
            client.join(120)
    elapsed = time.monotonic() - started
    swept = _drain_events(program)
    problems = _audit(program, history)
    reconcile = _reconcile(server_environment)

    outcomes = Counter((op.kind, op.outcome) for op in history.ops)
    summary = [
        f"chaos bank test: seed {SEED}, {elapsed:.0f} s, {CLIENTS} clients, "
        f"{sum(history.statuses.values())} HTTP requests ({len(history.ops)} operations, "
        f"{sum(op.duplicated for op in history.ops)} deliberate duplicates)",
        f"faults: {dict(nemesis.faults)}; PostgreSQL sessions terminated: "
        f"{nemesis.terminated_sessions}",
        f"answers: {dict(sorted(history.statuses.items(), key=str))}",
        "operations: " + ", ".join(f"{k} {o}: {n}" for (k, o), n in sorted(outcomes.items())),
        f"events handed back by the sweeper: {swept}; reconcile exit {reconcile.returncode}",
    ]
    print("\n".join(summary))
    assert not nemesis.errors, nemesis.errors
    assert all(not c.is_alive() for c in clients), "a client did not stop"
    assert not problems, "\n".join([*summary, *problems[:100]])
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr[-2000:]
    # The run must have exercised what it claims to test.
    assert all(nemesis.faults[kind] >= 1 for kind in Nemesis.KINDS), nemesis.faults
    for kind in OK:
        assert outcomes[(kind, "ok")] > 0, f"no acknowledged {kind}"
