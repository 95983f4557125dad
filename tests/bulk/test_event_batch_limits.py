"""Batched processing reads a rule's limits once per batch and counts in memory what the batch
books (rules.actions.rewarding.BatchMemo): the outcome must be the one the events would get one
by one, also when an event of the batch is rolled back or a refund in it reverses a reward; and
the statements a batch sends per event stay few, whatever the batch's size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rules.models import Event
from rules.rewards.models import Reward
from rules.services import event_batch, handoff
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_hand_off(settings, monkeypatch):
    """Store events without processing them: each test processes them in one batch."""
    settings.CELERY_BROKER_URL = ""
    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: None)
    monkeypatch.setattr(handoff, "_enqueue_many", lambda pks: None)


def limited_rule(program, *, max_rewards):
    from rules.services.referrals import referral_create
    from rules.services.rules import rule_create, rule_publish

    definition = rule_def(
        trigger="purchase",
        conditions=ALWAYS,
        actions=[reward_action(100)],
        limits={"per_beneficiary": {"max_rewards": max_rewards, "period": "month"}},
    )
    rule_publish(rule=rule_create(program=program, definition=definition, actor="t"), actor="t")
    for i in range(30):
        referral_create(program=program, referrer="ref", referred=f"u{i}", actor="t")


def store(api, url, events):
    r = api.post(url("events/batch"), {"events": events}, format="json")
    assert r.status_code == 202, r.json()
    ids = [e["id"] for e in events]
    return list(Event.objects.filter(event_id__in=ids).values_list("pk", flat=True))


def purchase(i, at=T0):
    return {"id": f"e{i}", "type": "purchase", "user": f"u{i}", "occurred_at": at.isoformat()}


def test_a_rolled_back_event_gives_its_limit_back(api, url, program, monkeypatch):
    limited_rule(program, max_rewards=3)
    pks = store(api, url, [purchase(i, T0 + timedelta(seconds=i)) for i in range(6)])
    original = event_batch.rules_evaluate_and_act

    def fail_on_e1(event, **kwargs):
        results = original(event, **kwargs)
        if event.event_id == "e1":
            raise RuntimeError("boom after its reward was counted")
        return results

    monkeypatch.setattr(event_batch, "rules_evaluate_and_act", fail_on_e1)
    outcome = event_batch.events_process_batch(event_pks=pks)
    assert (outcome.processed, outcome.retry) == (5, 1)
    rewarded = {e.event_id: bool(e.results[0]["rewards"]) for e in Event.objects.all() if e.results}
    # e1's reward was rolled back, so e3 got the third unit; e4 and e5 were limited.
    assert rewarded == {"e0": True, "e2": True, "e3": True, "e4": False, "e5": False}
    for event_id in ("e4", "e5"):
        [limited] = Event.objects.get(event_id=event_id).results[0]["limited"]
        assert limited["reason"] == "max_rewards: ref already has 3 reward(s) per month"
    assert Reward.objects.count() == 3
    monkeypatch.setattr(event_batch, "rules_evaluate_and_act", original)
    again = Event.objects.get(event_id="e1").pk
    assert event_batch.events_process_batch(event_pks=[again]).processed == 1
    assert Event.objects.get(event_id="e1").results[0]["limited"]
    assert Reward.objects.count() == 3


def test_a_refund_in_the_batch_frees_a_unit_for_the_events_after_it(api, url, program):
    limited_rule(program, max_rewards=1)
    refund = {
        "id": "r0",
        "type": "refund",
        "user": "u0",
        "occurred_at": (T0 + timedelta(hours=1)).isoformat(),
        "data": {"original_event_id": "e0"},
    }
    pks = store(api, url, [purchase(0), refund, purchase(1, T0 + timedelta(hours=2))])
    assert event_batch.events_process_batch(event_pks=pks).processed == 3
    statuses = sorted(Reward.objects.values_list("status", flat=True))
    assert statuses == ["pending", "reversed"]
    assert Event.objects.get(event_id="e1").results[0]["rewards"]


@pytest.mark.postgres  # SQLite books a reward row by row and marks events one by one
def test_statements_per_event_stay_few_in_a_batch(api, url, program):
    limited_rule(program, max_rewards=1000)

    def statements(first, n):
        pks = store(api, url, [purchase(i) for i in range(first, first + n)])
        with CaptureQueriesContext(connection) as queries:
            assert event_batch.events_process_batch(event_pks=pks).processed == n
        return len(queries)

    small, large = statements(0, 5), statements(5, 20)
    # Per event: its savepoint (2), facts (1), the action's savepoint (2), the reward's
    # account and booking (2), its link (1). The rule's lock, its limit's usage, the reward
    # keys, the settings, the tiers and the status are read or written once per batch.
    assert (large - small) / 15 <= 8, (small, large)
    assert Reward.objects.count() == 25


def test_a_refused_action_is_recorded_as_alone_and_the_others_pay(api, url, program, monkeypatch):
    """In a batch the actions share their event's savepoint; a refused one makes the batch run
    that event again with a savepoint per action, so it is skipped, as alone, and the event's
    other action still pays (once)."""
    from config.platform.exceptions import DomainError
    from rules.rewards.services import rewards
    from rules.services.referrals import referral_create
    from rules.services.rules import rule_create, rule_publish

    actions = [reward_action(100), reward_action(50, beneficiary="referred")]
    definition = rule_def(trigger="purchase", conditions=ALWAYS, actions=actions)
    rule_publish(rule=rule_create(program=program, definition=definition, actor="t"), actor="t")
    for i in range(3):
        referral_create(program=program, referrer=f"ref{i}", referred=f"u{i}", actor="t")
    original = rewards._validate_new

    def refuse_u1(**kwargs):
        if kwargs["beneficiary"] == "u1":
            raise DomainError("refused for u1")
        return original(**kwargs)

    # The check every new reward passes, booked at once or deferred to the batch's end.
    monkeypatch.setattr(rewards, "_validate_new", refuse_u1)
    pks = store(api, url, [purchase(i) for i in range(3)])
    assert event_batch.events_process_batch(event_pks=pks).processed == 3
    entry = Event.objects.get(event_id="e1").results[0]
    assert len(entry["rewards"]) == 1
    assert entry["skipped"] == [
        {"index": 1, "type": "credit_reward", "reason": "validation_error: refused for u1"}
    ]
    beneficiaries = sorted(Reward.objects.values_list("beneficiary", flat=True))
    assert beneficiaries == ["ref0", "ref1", "ref2", "u0", "u2"]
