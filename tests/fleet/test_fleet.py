"""More than one of everything (issue 16, docs/OPERATIONS.md "Running more than one"): the chaos
bank test (tests/chaos/test_bank.py: its clients, its audit) run through nginx with the shipped
config/nginx.conf in front of two gunicorn instances, with two Celery workers and beat on
RabbitMQ, while a nemesis SIGKILLs each web instance whole (nginx sends new requests to the
other until it is back), single gunicorn workers, each Celery worker, and terminates every
PostgreSQL session of the test database.

Afterwards: every acknowledged request has exactly one effect (an unanswered one at most one, a
rejected one none), the bank's money is all there, every event is processed with exactly one
reward (none stuck), `manage.py reconcile` exits 0; and the run really used the fleet: both web
instances answered requests through nginx, both workers processed events, beat sent its sweep.

Short mode (default) runs in the normal suite on PostgreSQL (30 s of load, or until every
instance and worker has been killed once); FLEET_LONG=1
is the benchmark length (bench/fleet.py; FLEET_SECONDS overrides it, CHAOS_SEED the seed).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from bench._harness import backends_terminate
from tests.chaos import test_bank as chaos

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

LONG = os.environ.get("FLEET_LONG") == "1"
SECONDS = float(os.environ.get("FLEET_SECONDS") or (180 if LONG else 30))
FAULT_GAP = (2.0, 4.0) if LONG else (1.0, 2.0)  # seconds between two faults


class FleetNemesis(threading.Thread):
    """Faults in turn, each kind taking its targets in turn, so a short run still hits every
    web instance and every worker at least once; the moments are random."""

    KINDS = ("kill_web_instance", "kill_celery_worker", "terminate_pg_backends", "kill_web_worker")

    def __init__(self, fleet, dbname: str, spare: int, stop: threading.Event):
        super().__init__(name="fleet-nemesis", daemon=True)
        self.fleet, self.dbname, self.spare, self.stop = fleet, dbname, spare, stop
        self.rng = random.Random(chaos.SEED)
        self.faults: Counter = Counter()
        self.terminated_sessions = 0
        self.errors: list[str] = []

    def covered(self) -> bool:
        """Every web instance and every worker killed once, sessions terminated once."""
        wanted = [f"kill_web_instance:{i}" for i in range(len(self.fleet.web))]
        wanted += [f"kill_celery_worker:{i}" for i in range(len(self.fleet.workers))]
        return all(self.faults[target] for target in [*wanted, "terminate_pg_backends"])

    def run(self) -> None:
        turn = Counter[str]()
        while not self.stop.wait(self.rng.uniform(*FAULT_GAP)):
            kind = self.KINDS[sum(turn.values()) % len(self.KINDS)]
            n = turn[kind]
            turn[kind] += 1
            try:
                target = self.strike(kind, n)
                if target:
                    self.faults[target] += 1
            except Exception as exc:
                self.errors.append(f"{kind}: {exc!r}")

    def strike(self, kind: str, n: int) -> str | None:
        if kind == "kill_web_instance":
            i = n % len(self.fleet.web)
            instance = self.fleet.web[i]
            instance.kill()  # master and workers at once; nginx fails over to the other
            instance.start()  # same port; back in nginx's rotation after fail_timeout
            return f"{kind}:{i}"
        if kind == "kill_web_worker":
            i = self.rng.randrange(len(self.fleet.web))
            workers = self.fleet.web[i].workers()
            if not workers:
                return None  # the master is between respawns
            os.kill(self.rng.choice(workers), signal.SIGKILL)
            return f"{kind}:{i}"
        if kind == "kill_celery_worker":
            i = n % len(self.fleet.workers)
            self.fleet.workers[i].kill()
            self.fleet.workers[i].start()
            return f"{kind}:{i}"
        self.terminated_sessions += backends_terminate(self.dbname, spare=(self.spare,))
        return kind


def test_the_fleet_applies_every_acknowledged_request_once(bank, fleet):
    program, key = bank
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own_session,) = cursor.fetchone()
    history = chaos.History()
    stop_clients, stop_nemesis = threading.Event(), threading.Event()
    clients = [
        chaos.Client(n, fleet.nginx.url, key, history, stop_clients) for n in range(chaos.CLIENTS)
    ]
    nemesis = FleetNemesis(fleet, connection.settings_dict["NAME"], own_session, stop_nemesis)
    started = time.monotonic()
    for client in clients:
        client.start()
    nemesis.start()
    try:
        # SECONDS of load, longer if the nemesis has not yet reached every target (restarts
        # are slow on a busy machine); 3 x SECONDS at most, then the checks below say what
        # was missed.
        while time.monotonic() - started < 3 * SECONDS and not (
            time.monotonic() - started >= SECONDS and nemesis.covered()
        ):
            time.sleep(0.5)
    finally:
        stop_nemesis.set()
        nemesis.join(120)
        stop_clients.set()
        for client in clients:
            client.join(120)
    elapsed = time.monotonic() - started
    swept = chaos._drain_events(program)
    problems = chaos._audit(program, history)
    reconcile = chaos._reconcile(fleet.env)

    outcomes = Counter((op.kind, op.outcome) for op in history.ops)
    answered_by = fleet.nginx.answered_by()
    processed = [w.log().count("succeeded in") for w in fleet.workers]
    beat_sweeps = fleet.beat.log().count("Sending due task rules.requeue_stuck_events")
    summary = [
        f"fleet bank test: seed {chaos.SEED}, {elapsed:.0f} s, {chaos.CLIENTS} clients through"
        f" nginx to {len(fleet.web)} gunicorn instances, {len(fleet.workers)} Celery workers"
        f" and beat on RabbitMQ (vhost {fleet.vhost})",
        f"HTTP requests: {sum(history.statuses.values())} ({len(history.ops)} operations,"
        f" {sum(op.duplicated for op in history.ops)} deliberate duplicates)",
        f"faults: {dict(sorted(nemesis.faults.items()))}; PostgreSQL sessions terminated:"
        f" {nemesis.terminated_sessions}",
        f"answers: {dict(sorted(history.statuses.items(), key=str))}",
        f"answered by upstream (nginx log): {answered_by}",
        f"tasks done per worker (their logs): {processed}; beat's stuck-event sweeps: "
        f"{beat_sweeps}",
        "operations: " + ", ".join(f"{k} {o}: {n}" for (k, o), n in sorted(outcomes.items())),
        f"events handed back by the test's own sweep: {swept}; reconcile exit"
        f" {reconcile.returncode}",
    ]
    print("\n".join(summary))
    assert not nemesis.errors, nemesis.errors
    assert all(not c.is_alive() for c in clients), "a client did not stop"
    assert not problems, "\n".join([*summary, *problems[:100]])
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr[-2000:]
    # The run must have exercised what it claims to test: every instance and worker killed,
    # sessions terminated, both instances answering, both workers working, beat sweeping.
    for i in range(len(fleet.web)):
        assert nemesis.faults[f"kill_web_instance:{i}"] >= 1, nemesis.faults
        assert answered_by.get(f"127.0.0.1:{fleet.web[i].port}", 0) > 0, answered_by
    for i in range(len(fleet.workers)):
        assert nemesis.faults[f"kill_celery_worker:{i}"] >= 1, nemesis.faults
    assert nemesis.faults["terminate_pg_backends"] >= 1, nemesis.faults
    assert all(n > 0 for n in processed), processed
    assert beat_sweeps >= 1, fleet.beat.log()[-2000:]
    for kind in chaos.OK:
        assert outcomes[(kind, "ok")] > 0, f"no acknowledged {kind}"
