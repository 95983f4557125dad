"""Concurrent workers on PostgreSQL: claims never double-process, limits never overspend."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from rules.models import Event
from rules.rewards.models import Reward
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def no_hand_off(monkeypatch):
    """Store events without processing them, so the test's threads do it together."""
    from rules.services import handoff

    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: None)


def run_together(targets) -> list:
    barrier = threading.Barrier(len(targets))
    results: list = []

    def run(fn):
        try:
            barrier.wait()
            results.append(fn())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_workers_process_an_event_once(program, publish, refer, ingest, no_hand_off):
    from rules.services.processing import event_process

    publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)]))
    refer("alice", "bob")
    event = ingest("p-1", "purchase", "bob")
    outcomes = run_together([lambda: event_process(event_pk=event.pk).status] * 4)
    assert sorted(outcomes) == ["processed", "skipped", "skipped", "skipped"]
    event = Event.objects.get(pk=event.pk)
    assert (event.status, event.attempts) == ("processed", 1)
    assert Reward.objects.count() == 1


def test_budget_holds_under_concurrent_events(program, publish, refer, ingest, no_hand_off):
    from rules.services.processing import event_process

    publish(
        rule_def(
            trigger="purchase",
            conditions=ALWAYS,
            actions=[reward_action(300)],
            limits={"budget": {"max_amount": 1000}},
        )
    )
    events = []
    for i in range(6):
        refer("alice", f"u{i}")
        events.append(ingest(f"p-{i}", "purchase", f"u{i}"))
    outcomes = run_together([lambda e=e: event_process(event_pk=e.pk).status for e in events])
    assert outcomes == ["processed"] * 6
    assert Reward.objects.count() == 3  # 3 x 300 fits in 1000, a fourth would not
    limited = [r for e in Event.objects.all() for r in e.results if r["limited"]]
    assert len(limited) == 3


def test_concurrent_duplicate_deliveries_store_one_event(program, no_hand_off):
    from rules.services.events import event_ingest

    def deliver():
        _, created = event_ingest(
            program=program, event_id="dup", type="purchase", user="bob", data={"a": 1}, actor="t"
        )
        return created

    assert sorted(run_together([deliver] * 4)) == [False, False, False, True]
    assert Event.objects.filter(event_id="dup").count() == 1
