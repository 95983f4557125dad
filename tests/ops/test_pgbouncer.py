"""Everything works behind PgBouncer in transaction pooling mode (SPEC §15, DB_POOLER=pgbouncer):
the API (a reward, an event through the pipeline), payouts (create, approve, execute) and the
inline scheduler, whose leases hold no session state there.

A PgBouncer (Debian's package, `make system-deps`) is started on a free port in front of the
test database's server; the test points Django's connection at it for its duration. Its admin
console's counters show the transactions really went through it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from config import inline_scheduler as sched
from config.platform.api_keys import api_key_create, service_identity_get_or_create
from rules.models import Event
from rules.rewards.models import Reward
from tests.ops import pgbouncer as bouncer
from tests.rules.conftest import SPEC_RULE

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(
        not bouncer.available(), reason="pgbouncer not installed (make system-deps)"
    ),
]


@pytest.fixture(scope="module")
def pgbouncer_port():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    s = connection.settings_dict
    with bouncer.pgbouncer(s.get("HOST") or "127.0.0.1", int(s.get("PORT") or 5432)) as port:
        yield port


def transactions_through(port: int, database: str) -> int:
    rows = bouncer.admin(port, "SHOW STATS")
    # database | total_xact_count | ...
    return sum(int(row[1]) for row in rows if row[0] == database)


@pytest.fixture
def through_pgbouncer(pgbouncer_port, settings, transactional_db):
    """This test's database connections (every thread's) go through PgBouncer, configured as
    DB_POOLER=pgbouncer configures them."""
    connections.close_all()
    db = connection.settings_dict  # shared by every thread's connection to "default"
    saved = {k: db.get(k) for k in ("HOST", "PORT", "DISABLE_SERVER_SIDE_CURSORS")}
    db.update(HOST="127.0.0.1", PORT=str(pgbouncer_port), DISABLE_SERVER_SIDE_CURSORS=True)
    settings.DB_POOLER = "pgbouncer"
    settings.LEDGER_PREPARED_STATEMENTS = False
    settings.CELERY_BROKER_URL = ""  # events processed in-process after commit
    before = transactions_through(pgbouncer_port, db["NAME"])
    try:
        yield lambda: transactions_through(pgbouncer_port, db["NAME"]) - before
    finally:
        from config.platform.webhooks.tasks import webhook_inline_wait

        webhook_inline_wait(timeout=30)
        connections.close_all()
        for key, value in saved.items():
            if value is None:
                db.pop(key, None)
            else:
                db[key] = value


def key_client(program, username: str, groups: tuple[str, ...]) -> APIClient:
    from tests.conftest import ensure_groups

    ensure_groups()
    owner, _ = service_identity_get_or_create(username=username, groups=groups)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=owner)[1]}"
    )
    return client


def test_rewards_and_the_event_pipeline(through_pgbouncer, api, url, publish, refer, program):
    body = {"beneficiary": "alice", "amount": 5000, "currency": "INR", "reward_type": "cash"}
    r = api.post(url("rewards"), body, format="json", HTTP_IDEMPOTENCY_KEY="pgb-1")
    assert r.status_code == 201, r.content
    again = api.post(url("rewards"), body, format="json", HTTP_IDEMPOTENCY_KEY="pgb-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == r.json()["id"]
    confirmed = api.post(url(f"rewards/{r.json()['id']}/confirm"), {}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"

    api.put(url("participants/alice"), {"attributes": {"is_paid_user": True}}, format="json")
    refer("alice", "bob")
    publish(SPEC_RULE)
    event = {
        "id": "evt-pgb",
        "type": "subscription_started",
        "user": "bob",
        "occurred_at": "2026-03-01T10:00:00Z",
        "attributes": {"subscription_plan": "premium"},
        "data": {"plan": "premium", "amount": 99900},
    }
    assert api.post(url("events"), event, format="json").status_code == 202
    assert api.get(url("events/evt-pgb")).json()["status"] == "processed"
    assert Reward.objects.filter(beneficiary="alice").count() == 2
    assert api.get(url("users/alice/balance")).json()["pending"] == 50000
    assert api.get(url("rewards")).status_code == 200  # a list: cursor pagination
    assert through_pgbouncer() > 10


def test_payouts_create_approve_execute(through_pgbouncer, program, url, confirmed_reward):
    maker = key_client(program, "maker-acme", ("api clients",))
    approver = key_client(program, "approver-acme", ("approvers",))
    confirmed_reward("carol", 1500)
    batch = maker.post(url("payout-batches"), {"description": "weekly"}, format="json").json()
    base = url(f"payout-batches/{batch['id']}")
    r = maker.post(f"{base}/items", {"beneficiary": "carol"}, format="json")
    assert r.status_code == 201, r.content
    assert maker.post(f"{base}/submit", {}, format="json").json()["status"] == "pending_approval"
    assert approver.post(f"{base}/approve", {}, format="json").json()["status"] == "approved"
    r = maker.post(f"{base}/execute", {}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "executed", r.content
    assert maker.get(url("users/carol/balance")).json()["available"] == 0
    assert through_pgbouncer() > 5


def test_scheduler_leases_are_per_transaction(through_pgbouncer, program):
    """Two processes' leases (each on its own pooled connection): one job never runs twice at
    once, and a lease ends with its run, on whichever server session served it."""
    a, b = sched.leases_for(), sched.leases_for()
    assert isinstance(a, sched.PostgresTransactionLeases)
    try:
        assert a.hold("rules.requeue_stuck_events")
        assert not b.hold("rules.requeue_stuck_events")  # a is running it
        assert b.hold("ledger.confirm_due_rewards")  # another job is free
        b.release("ledger.confirm_due_rewards")
        a.release("rules.requeue_stuck_events")
        assert b.hold("rules.requeue_stuck_events")  # a's run ended: free again
        b.release("rules.requeue_stuck_events")
        assert a.hold("rules.requeue_stuck_events")
        a.release("rules.requeue_stuck_events")
    finally:
        a.release_all()
        b.release_all()


def test_scheduled_jobs_run_through_pgbouncer(through_pgbouncer, program, settings):
    """The real schedule's jobs, one tick: the stuck-event sweeper processes an event whose
    hand-off was lost, and no job fails; a second scheduler's tick meanwhile waits its turn."""
    from rules.services import processing
    from rules.services.events import event_ingest

    settings.CELERY_BROKER_URL = ""
    original = processing.event_claim
    processing.event_claim = lambda **kw: None  # the hand-off is lost
    try:
        event, _ = event_ingest(
            program=program, event_id="lost", type="purchase", user="bob", actor="test"
        )
    finally:
        processing.event_claim = original
    Event.objects.filter(pk=event.pk).update(created_at=event.created_at - timedelta(hours=1))
    assert Event.objects.get(pk=event.pk).status == "received"

    failures: list[str] = []
    scheduler = sched.InlineScheduler.from_settings()
    assert isinstance(scheduler.leases, sched.PostgresTransactionLeases)
    original_run = scheduler._run

    def run(job):
        try:
            original_run(job)
        except Exception as exc:  # _run logs and swallows; anything else is a failure
            failures.append(f"{job.name}: {exc}")

    scheduler._run = run  # type: ignore[method-assign]
    thread = threading.Thread(target=scheduler.tick)
    thread.start()
    thread.join(timeout=120)
    scheduler.leases.release_all()
    connections.close_all()
    assert not thread.is_alive() and failures == []
    assert Event.objects.get(pk=event.pk).status == "processed"
    assert through_pgbouncer() > 5
