"""The inline scheduler: CELERY_BEAT_SCHEDULE run in the web process when there is no broker."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from config import inline_scheduler as sched
from ledger.models import ReconciliationRun
from rules.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def leases(tmp_path):
    """This process's leases, as in production (a lock directory of its own on SQLite)."""
    made: sched.Leases
    if connection.vendor == "postgresql":
        made = sched.PostgresLeases()
    else:
        made = sched.FileLeases(connection.settings_dict["NAME"], directory=tmp_path)
    yield made
    made.release_all()


@pytest.fixture
def lost_event(program, settings, monkeypatch):
    """An event whose hand-off never happened: only the requeue sweeper will process it."""
    from rules.services import processing
    from rules.services.events import event_ingest

    settings.CELERY_BROKER_URL = ""
    with monkeypatch.context() as patched:
        patched.setattr(processing, "event_claim", lambda **kw: None)
        event, _ = event_ingest(
            program=program, event_id="lost", type="purchase", user="bob", actor="test"
        )
    Event.objects.filter(pk=event.pk).update(created_at=event.created_at - timedelta(hours=1))
    return event


def tick_until(scheduler, done) -> None:
    """Tick until done() (at most 5 s). PostgreSQL frees a closed session's advisory locks when
    its backend has exited, a moment after the client closed it (CI saw a tick come first), so
    the job is taken over on one of the next ticks."""
    for _ in range(100):
        scheduler.tick()
        if done():
            return
        time.sleep(0.05)


def beat_jobs(clock):
    from django.conf import settings
    from django.utils.module_loading import autodiscover_modules

    from config.celery import app

    autodiscover_modules("tasks")
    return sched.jobs_from_schedule(
        settings.CELERY_BEAT_SCHEDULE, resolve=app.tasks.__getitem__, clock=clock
    )


def test_due_jobs_run_and_a_crashed_job_is_logged_not_fatal(
    lost_event, leases, monkeypatch, caplog
):
    def broken():
        raise RuntimeError("rewards store unreachable")

    monkeypatch.setattr("rules.rewards.tasks.rewards_confirm_due", broken)
    clock = FakeClock(NOON)
    scheduler = sched.InlineScheduler(beat_jobs(clock), leases=leases, clock=clock)
    caplog.set_level(logging.INFO, logger="config.inline_scheduler")

    wait = scheduler.tick()  # every interval job runs at start; the nightly one waits

    assert Event.objects.get(pk=lost_event.pk).status == "processed"
    [crash] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert crash.getMessage().startswith("Inline job ledger.confirm_due_rewards failed")
    assert "rewards store unreachable" in caplog.text  # with the traceback
    done = {r.args[0] for r in caplog.records if r.levelno == logging.INFO}
    assert done == {
        "rules.requeue_stuck_events",
        "ledger.webhook_deliver_due",
        "rules.clicks_rollup",
        "portal.email_send_due",
        "ledger.payout_schedule",
        "ledger.payout_rails_sweep",
        "billing.deliveries_sweep",
    }
    assert not ReconciliationRun.objects.exists()
    assert 0 < wait <= 30  # the shortest interval (webhook sweep) comes next

    caplog.clear()
    assert scheduler.tick() == wait  # nothing is due again at the same time
    assert not caplog.records

    clock.now = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)  # the nightly crontab entry is due
    scheduler.tick()
    run = ReconciliationRun.objects.get(program=None)
    assert run.status == "clean"
    assert [r.levelno for r in caplog.records if "confirm_due_rewards" in r.getMessage()] == [
        logging.ERROR  # crashed again, and the other jobs still ran
    ]
    clock.now += timedelta(minutes=1)
    scheduler.tick()
    assert ReconciliationRun.objects.filter(program=None).count() == 1  # once a night


def test_a_job_runs_in_one_process_and_moves_when_that_process_ends(tmp_path):
    runs: list[str] = []

    def scheduler_for(process: str, clock):
        jobs = sched.jobs_from_schedule(
            {"sweep": {"task": "sweep", "schedule": 60}},
            resolve=lambda name: lambda: runs.append(process),
            clock=clock,
        )
        leases: sched.Leases
        if connection.vendor == "postgresql":
            leases = sched.PostgresLeases()
        else:
            leases = sched.FileLeases(connection.settings_dict["NAME"], directory=tmp_path)
        return sched.InlineScheduler(jobs, leases=leases, clock=clock)

    clock = FakeClock(NOON)
    a, b = scheduler_for("a", clock), scheduler_for("b", clock)
    try:
        for _ in range(3):
            a.tick()
            b.tick()
            clock.now += timedelta(seconds=60)
        assert runs == ["a", "a", "a"]
        a.leases.release_all()  # process a exits: its session (or lock file) closes
        tick_until(b, lambda: runs[-1] == "b")
        a.tick()
        assert runs == ["a", "a", "a", "b"]
    finally:
        a.leases.release_all()
        b.leases.release_all()


@pytest.mark.postgres
def test_an_advisory_lock_held_by_another_session_prevents_the_run(leases):
    runs: list[datetime] = []
    clock = FakeClock(NOON)
    jobs = sched.jobs_from_schedule(
        {"rules.requeue_stuck_events": {"task": "x", "schedule": 60}},
        resolve=lambda name: lambda: runs.append(clock.now),
        clock=clock,
    )
    scheduler = sched.InlineScheduler(jobs, leases=leases, clock=clock)
    key = sched.lock_key("rules.requeue_stuck_events")
    params = connection.get_connection_params()
    dsn = {k: params[k] for k in ("dbname", "user", "host", "port", "password") if k in params}
    with psycopg.connect(**dsn, autocommit=True) as other:  # another gunicorn worker
        taken = other.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [sched.LOCK_NAMESPACE, key]
        ).fetchone()
        assert taken is not None and taken[0]
        scheduler.tick()
        assert runs == []
    # That worker's session ended. PostgreSQL frees its advisory lock when the backend has
    # exited, a moment after the client closed it: wait for that, or the next tick finds the
    # lock still taken and moves the job a whole (fake) interval on, so it would never run.
    with psycopg.connect(**dsn, autocommit=True) as probe:
        for _ in range(200):
            held = probe.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
                "AND objid = %s",
                [sched.LOCK_NAMESPACE, key & 0xFFFFFFFF],
            ).fetchone()
            if held == (0,):
                break
            time.sleep(0.025)
    # The lock is free, and this process takes the job.
    clock.now += timedelta(seconds=60)
    tick_until(scheduler, lambda: bool(runs))
    assert runs == [clock.now]
    with psycopg.connect(**dsn, autocommit=True) as other:
        locks = other.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND objid = %s AND granted",
            [sched.LOCK_NAMESPACE, key & 0xFFFFFFFF],
        ).fetchone()
        assert locks == (1,)
        taken = other.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [sched.LOCK_NAMESPACE, key]
        ).fetchone()
        assert taken is not None and not taken[0]


def test_the_first_request_starts_the_scheduler_thread(lost_event, client, settings, caplog):
    settings.INLINE_SCHEDULER = True
    settings.CELERY_BEAT_SCHEDULE = {
        "rules.requeue_stuck_events": {"task": "rules.requeue_stuck_events", "schedule": 3600}
    }
    caplog.set_level(logging.INFO, logger="config.inline_scheduler")

    def job_logs():
        return [r for r in caplog.records if r.getMessage().startswith("Inline job")]

    try:
        client.get("/healthz")
        # Wait on the log, not the database: SQLite's shared in-memory test database refuses
        # a read while the thread writes. A liveness bound, not a speed requirement.
        deadline = time.monotonic() + 60
        while not job_logs():
            assert time.monotonic() < deadline, "the scheduler thread never ran the sweeper"
            time.sleep(0.05)
        assert sched._scheduler is not None and sched._scheduler._thread is not None
        assert sched._scheduler._thread.name == "inline-scheduler"
        client.get("/healthz")
        assert sched.inline_scheduler_ensure_started() is sched._scheduler  # one per process
    finally:
        sched.inline_scheduler_stop(timeout=30)
    assert sched._scheduler is None
    [record] = job_logs()
    assert record.levelno == logging.INFO and record.threadName == "inline-scheduler"
    assert record.getMessage().endswith(": 1")  # one event re-queued
    assert Event.objects.get(pk=lost_event.pk).status == "processed"


def test_the_middleware_is_off_when_disabled(client, settings):
    settings.INLINE_SCHEDULER = False
    client.get("/healthz")
    assert sched._scheduler is None
