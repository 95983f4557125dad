"""The event pipeline end to end: POST event → processed after commit → rewards in the ledger,
exactly once however often it is delivered, retried or crashes."""

from __future__ import annotations

import pytest

from rules.models import Event
from rules.rewards.models import Reward
from tests.rules.conftest import ALWAYS, SPEC_RULE, reward_action, rule_def

pytestmark = pytest.mark.django_db(transaction=True)


def premium_event(event_id: str = "evt-1", user: str = "bob") -> dict:
    return {
        "id": event_id,
        "type": "subscription_started",
        "user": user,
        "occurred_at": "2026-03-01T10:00:00Z",
        "attributes": {"subscription_plan": "premium"},
        "data": {"plan": "premium", "amount": 99900},
    }


@pytest.fixture
def paid_referrer(api, url, refer):
    api.put(url("participants/alice"), {"attributes": {"is_paid_user": True}}, format="json")
    refer("alice", "bob")


def test_event_to_reward_through_the_api(api, url, publish, paid_referrer):
    rule = publish(SPEC_RULE)
    response = api.post(url("events"), premium_event(), format="json")
    assert response.status_code == 202, response.content
    body = api.get(url("events/evt-1")).json()
    assert body["status"] == "processed"
    assert body["attempts"] == 1
    [result] = body["results"]
    assert result["rule"] == rule.pk and result["version"] == 1 and result["matched"] is True
    assert {t["field"] for t in result["trace"]} == {
        "referrer.is_paid_user",
        "referred.subscription_plan",
    }
    [reward] = Reward.objects.all()
    assert result["rewards"] == [reward.pk]
    assert (reward.beneficiary, reward.amount, reward.reward_type) == ("alice", 50000, "voucher")
    assert (
        reward.source_key
        == f"evt:{Event.objects.get(event_id='evt-1').pk}:rule:{rule.active_version.pk}:act:0"
    )
    balance = api.get(url("users/alice/balance")).json()
    assert balance["pending"] == 50000


def test_no_match_pays_nothing_and_records_why(api, url, publish, paid_referrer):
    publish(SPEC_RULE)
    event = premium_event()
    event["attributes"] = {"subscription_plan": "basic"}
    api.post(url("events"), event, format="json")
    [result] = api.get(url("events/evt-1")).json()["results"]
    assert result["matched"] is False and result["rewards"] == []
    failing = [t for t in result["trace"] if not t["result"]]
    assert failing[0]["field"] == "referred.subscription_plan"
    assert failing[0]["actual"] == "basic"
    assert not Reward.objects.exists()


def test_duplicate_event_pays_once(api, url, publish, paid_referrer):
    publish(SPEC_RULE)
    first = api.post(url("events"), premium_event(), format="json")
    again = api.post(url("events"), premium_event(), format="json")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == "evt-1" and again.json()["status"] == "processed"
    assert Reward.objects.count() == 1


def test_crash_before_marking_processed_pays_nothing_twice(
    program, publish, refer, ingest, process, monkeypatch
):
    from rules.services import processing

    publish(rule_def(conditions=ALWAYS, actions=[reward_action(1000), reward_action(200)]))
    refer("alice", "bob")
    real = processing.event_mark_processed
    calls = {"n": 0}

    def crash_once(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(processing, "event_mark_processed", crash_once)
    event = ingest("evt-crash", "subscription_started", "bob")  # inline attempt crashes
    event = Event.objects.get(pk=event.pk)
    assert event.status == "received" and event.attempts == 1
    assert "worker killed" in event.error and event.next_attempt_at is not None
    event = process(event)
    assert event.status == "processed" and event.attempts == 2 and event.error == ""
    assert sorted(Reward.objects.values_list("amount", flat=True)) == [200, 1000]
    # Processing the same event again (a redelivery) changes nothing.
    assert process(event).attempts == 2
    assert Reward.objects.count() == 2


def test_rewards_that_committed_before_a_crash_are_not_paid_again(
    program, publish, refer, ingest, process, monkeypatch
):
    """Even when a reward's booking survived the crash (it was committed on its own), the
    retry finds it by its deterministic key instead of paying again."""
    from rules.actions.run import action_key
    from rules.rewards.services.rewards import reward_create
    from rules.services import processing

    rule = publish(rule_def(conditions=ALWAYS, actions=[reward_action(1000)]))
    refer("alice", "bob")
    monkeypatch.setattr(processing, "event_claim", lambda **kw: None)  # hold inline processing
    event = ingest("evt-2", "subscription_started", "bob")
    monkeypatch.undo()
    key = action_key(event_pk=event.pk, rule_version_pk=rule.active_version.pk, index=0)
    earlier, _ = reward_create(
        program=program,
        beneficiary="alice",
        amount=1000,
        currency="INR",
        reward_type="cash",
        source_key=key,
        actor="crashed-worker",
    )
    event = process(event)
    assert event.status == "processed"
    assert event.results[0]["rewards"] == [earlier.pk]
    assert Reward.objects.count() == 1


def test_failures_retry_with_backoff_then_fail_with_the_error(
    program, ingest, process, monkeypatch
):
    from rules.services import processing

    def broken(event):
        raise ValueError("rule store unreachable")

    monkeypatch.setattr(processing, "rules_evaluate_and_act", broken)
    emitted = []
    monkeypatch.setattr(processing, "webhook_emit", lambda **kw: emitted.append(kw))
    event = ingest("evt-fail", "purchase", "bob")
    event = Event.objects.get(pk=event.pk)
    delays = []
    while event.status == "received":
        assert event.next_attempt_at is not None and event.claimed_at is not None
        delays.append(event.next_attempt_at - event.claimed_at)
        event = process(event)
    assert event.status == "failed"
    assert event.attempts == processing.MAX_ATTEMPTS
    assert event.error == "ValueError: rule store unreachable"
    [webhook] = emitted
    assert webhook["event_type"] == "event.failed"
    assert webhook["payload"]["id"] == "evt-fail" and webhook["payload"]["error"] == event.error
    assert delays == sorted(delays) and delays[0] < delays[-1]  # backoff grows


def test_refund_reverses_the_rewards_of_the_original_event(api, url, publish, refer):
    publish(
        rule_def(
            trigger="purchase",
            conditions=ALWAYS,
            actions=[reward_action(700), reward_action(300, beneficiary="referred")],
        )
    )
    refer("alice", "bob")
    api.post(url("events"), {"id": "p-1", "type": "purchase", "user": "bob"}, format="json")
    assert sorted(r.status for r in Reward.objects.all()) == ["pending", "pending"]
    refund = {"id": "r-1", "type": "refund", "user": "bob", "data": {"original_event_id": "p-1"}}
    assert api.post(url("events"), refund, format="json").status_code == 202
    body = api.get(url("events/r-1")).json()
    assert body["status"] == "processed"
    assert sorted(body["refund"]["reversed"]) == sorted(Reward.objects.values_list("pk", flat=True))
    assert set(Reward.objects.values_list("status", flat=True)) == {"reversed"}
    assert api.get(url("users/alice/balance")).json()["pending"] == 0


def test_refund_leaves_paid_rewards_for_clawback(program, publish, refer, ingest, process):
    from rules.rewards.services.rewards import reward_confirm, reward_transition

    publish(rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(700)]))
    refer("alice", "bob")
    ingest("p-1", "purchase", "bob")
    reward = Reward.objects.get()
    reward = reward_confirm(reward=reward, actor="test")
    reward_transition(reward=reward, to_status="paid", actor="test")
    refund = process(ingest("r-1", "refund", "bob", data={"original_event_id": "p-1"}))
    assert refund.refund["left_for_clawback"] == [reward.pk]
    assert refund.refund["reversed"] == []
    assert Reward.objects.get().status == "paid"


def test_refund_waits_for_an_unprocessed_original(program, publish, ingest, process, monkeypatch):
    from rules.services import processing

    monkeypatch.setattr(processing, "event_claim", lambda **kw: None)
    original = ingest("p-1", "purchase", "bob")
    refund = ingest("r-1", "refund", "bob", data={"original_event_id": "p-1"})
    monkeypatch.undo()
    refund = process(refund)
    assert refund.status == "received" and "not processed yet" in refund.error
    process(original)
    assert process(refund).status == "processed"


def test_priority_order_and_stop_processing(program, publish, refer, ingest):
    low = publish(rule_def(name="low", priority=1, conditions=ALWAYS, actions=[reward_action(1)]))
    high = publish(
        rule_def(
            name="high",
            priority=20,
            stop_processing=True,
            conditions={
                "operator": "AND",
                "conditions": [{"field": "event.plan", "operator": "equals", "value": "gold"}],
            },
            actions=[reward_action(2)],
        )
    )
    mid = publish(rule_def(name="mid", priority=10, conditions=ALWAYS, actions=[reward_action(3)]))
    refer("alice", "bob")
    silver = ingest("e-silver", "subscription_started", "bob", data={"plan": "silver"})
    results = Event.objects.get(pk=silver.pk).results
    assert [(r["rule"], r["matched"]) for r in results] == [
        (high.pk, False),
        (mid.pk, True),
        (low.pk, True),
    ]
    gold = ingest("e-gold", "subscription_started", "bob", data={"plan": "gold"})
    results = Event.objects.get(pk=gold.pk).results
    # Every active rule is recorded: those after the stopping rule as suppressed by it.
    assert [(r["rule"], r["matched"], r["outcome"], r.get("suppressed_by")) for r in results] == [
        (high.pk, True, "matched", None),
        (mid.pk, False, "suppressed", high.pk),
        (low.pk, False, "suppressed", high.pk),
    ]
    assert sorted(Reward.objects.values_list("amount", flat=True)) == [1, 2, 3]


def test_missing_beneficiary_is_skipped_and_noted(program, publish, ingest):
    publish(
        rule_def(
            conditions=ALWAYS,
            actions=[reward_action(500), reward_action(100, beneficiary="referred")],
        )
    )
    event = ingest("e-1", "subscription_started", "loner")  # nobody referred "loner"
    [result] = Event.objects.get(pk=event.pk).results
    assert result["skipped"] == [
        {"index": 0, "type": "credit_reward", "reason": "beneficiary referrer is missing"}
    ]
    assert [Reward.objects.get(pk=pk).beneficiary for pk in result["rewards"]] == ["loner"]


def test_two_level_commission_pays_referrer_and_parent(program, publish, refer, ingest):
    publish(
        rule_def(
            trigger="purchase",
            conditions=ALWAYS,
            actions=[
                {
                    "type": "percent_commission",
                    "params": {"of": "event.amount", "reward_type": "cash"},
                },
                {
                    "type": "percent_commission",
                    "params": {
                        "beneficiary": "parent",
                        "of": "event.amount",
                        "reward_type": "cash",
                    },
                },
            ],
        )
    )
    refer("alice", "bob")
    refer("bob", "carol")
    ingest("buy-1", "purchase", "carol", data={"amount": 123456})
    paid = dict(Reward.objects.values_list("beneficiary", "amount"))
    # Program rates: 1000 bps direct, 200 bps override, floored.
    assert paid == {"bob": 12345, "alice": 2469}
    # One level only: bob's purchase pays alice directly and has no parent.
    ingest("buy-2", "purchase", "bob", data={"amount": 1000})
    [result] = Event.objects.get(event_id="buy-2").results
    assert len(result["rewards"]) == 1
    assert result["skipped"][0]["reason"] == "beneficiary parent is missing"


def test_award_credits_action_uses_the_credit_ledger(program, publish, refer, ingest, process):
    from rules.rewards.services.credits import credits_balance

    publish(
        rule_def(
            trigger="signup",
            conditions=ALWAYS,
            actions=[
                {
                    "type": "award_credits",
                    "params": {"beneficiary": "referred", "operation": "SIGNUP_CREDIT"},
                }
            ],
        )
    )
    event = ingest("s-1", "signup", "bob")
    assert credits_balance(program=program, owner_id="bob") == 3
    Event.objects.filter(pk=event.pk).update(status="received")  # forced redelivery
    assert process(event).status == "processed"
    assert credits_balance(program=program, owner_id="bob") == 3


def test_per_beneficiary_limit_is_enforced_and_recorded(program, publish, refer, ingest):
    publish(
        rule_def(
            trigger="purchase",
            conditions=ALWAYS,
            actions=[reward_action(100)],
            limits={"per_beneficiary": {"max_rewards": 2, "period": "day"}},
        )
    )
    for referred in ("bob", "carol", "dave"):
        refer("alice", referred)
    for i, user in enumerate(["bob", "carol", "dave"]):
        ingest(f"p-{i}", "purchase", user, occurred_at=_at("2026-03-01T10:00:00Z"))
    last = Event.objects.get(event_id="p-2").results[0]
    assert last["rewards"] == []
    assert last["limited"][0]["beneficiary"] == "alice"
    assert last["limited"][0]["reason"].startswith("max_rewards")
    # A new day is a new period.
    ingest("p-next-day", "purchase", "bob", occurred_at=_at("2026-03-02T10:00:00Z"))
    assert Reward.objects.filter(beneficiary="alice").count() == 3


def test_budget_counts_live_rewards_only(program, publish, refer, ingest):
    from rules.rewards.services.rewards import reward_reverse

    publish(
        rule_def(
            trigger="purchase",
            conditions=ALWAYS,
            actions=[reward_action(400)],
            limits={"budget": {"max_amount": 1000}},
        )
    )
    refer("alice", "bob")
    for i in range(3):
        ingest(f"p-{i}", "purchase", "bob")
    assert Reward.objects.count() == 2
    assert Event.objects.get(event_id="p-2").results[0]["limited"][0]["reason"].startswith("budget")
    first = Reward.objects.first()
    assert first is not None
    reward_reverse(reward=first, reason="refunded", actor="test")
    ingest("p-3", "purchase", "bob")
    assert Reward.objects.exclude(status="reversed").count() == 2


def test_fraud_signal_holds_the_reward(program, publish, refer, ingest, api, url):
    publish(rule_def(conditions=ALWAYS, actions=[reward_action(500)]))
    api.put(url("participants/alice"), {"attributes": {"email": "A@x.com"}}, format="json")
    api.put(url("participants/bob"), {"attributes": {"email": "a@x.com "}}, format="json")
    refer("alice", "bob")
    event = ingest("e-1", "subscription_started", "bob")
    reward = Reward.objects.get()
    assert "share email" in reward.hold_reason
    assert Event.objects.get(pk=event.pk).results[0]["held"] == reward.hold_reason


def test_stuck_and_lost_events_are_requeued(program, ingest, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from rules.services import processing
    from rules.tasks import requeue_stuck

    monkeypatch.setattr(processing, "event_claim", lambda **kw: None)  # hand-off lost
    lost = ingest("lost", "purchase", "bob")
    stuck = ingest("stuck", "purchase", "bob")
    monkeypatch.undo()
    long_ago = timezone.now() - timedelta(hours=1)
    Event.objects.filter(pk=lost.pk).update(created_at=long_ago)
    Event.objects.filter(pk=stuck.pk).update(status="processing", attempts=1, claimed_at=long_ago)
    fresh = ingest("fresh", "purchase", "carol")  # processed inline, nothing to do
    assert requeue_stuck() == 2
    statuses = dict(Event.objects.values_list("event_id", "status"))
    assert statuses == {"lost": "processed", "stuck": "processed", "fresh": "processed"}
    assert Event.objects.get(pk=stuck.pk).attempts == 2
    assert Event.objects.get(pk=fresh.pk).attempts == 1


def test_broker_down_loses_nothing(program, ingest, settings):
    from rules.tasks import requeue_stuck

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    event = ingest("while-down", "purchase", "bob")
    assert Event.objects.get(pk=event.pk).status == "received"
    settings.CELERY_BROKER_URL = ""
    Event.objects.filter(pk=event.pk).update(created_at=event.created_at.replace(year=2020))
    assert requeue_stuck() == 1
    assert Event.objects.get(pk=event.pk).status == "processed"


def test_referral_creation_emits_a_referral_created_event(program, publish, refer):
    rule = publish(
        rule_def(trigger="referral_created", conditions=ALWAYS, actions=[reward_action(5)])
    )
    refer("alice", "bob")
    event = Event.objects.get(event_id="referral_created:bob")
    assert event.type == "referral_created" and event.data["referrer"] == "alice"
    assert event.status == "processed" and event.results[0]["rule"] == rule.pk
    assert Reward.objects.get().beneficiary == "alice"


def _at(value: str):
    from django.utils.dateparse import parse_datetime

    return parse_datetime(value)


def test_referral_velocity_holds_rewards_of_a_burst(program, publish, refer, ingest):
    from rules.selectors import rules_config_get

    config = rules_config_get(program=program)
    config.fraud_max_referrals_per_hour = 2
    config.save()
    publish(rule_def(conditions=ALWAYS, actions=[reward_action(500)]))
    for user in ("u1", "u2", "u3"):
        refer("alice", user)
    ingest("e-1", "subscription_started", "u1")
    ingest("e-3", "subscription_started", "u3")
    holds = dict(Reward.objects.values_list("metadata__event", "hold_reason"))
    assert holds["e-1"] == ""  # the first referral of the hour is not suspicious
    assert holds["e-3"].startswith("referral velocity: 3 referrals within an hour")


def test_the_sweeper_processes_due_events_in_batches(program, ingest, monkeypatch, settings):
    """Due events go to batched processing (rules.services.event_batch), BATCH_SIZE at a
    time, here without a broker; with one, a task per batch, each event marked as handed
    off first so the next sweep does not queue it again."""
    from datetime import timedelta

    from django.utils import timezone

    from rules import tasks
    from rules.services import processing

    monkeypatch.setattr(processing, "event_claim", lambda **kw: None)  # hand-offs lost
    lost = [ingest(f"lost-{i}", "purchase", "bob").pk for i in range(5)]
    monkeypatch.undo()
    Event.objects.filter(pk__in=lost).update(created_at=timezone.now() - timedelta(hours=1))
    monkeypatch.setattr(tasks, "BATCH_SIZE", 2)
    batches: list[list[int]] = []
    real = tasks.events_process_batch

    def spy(event_pks):
        batches.append(event_pks)
        return real(event_pks=event_pks)

    monkeypatch.setattr(tasks, "events_process_batch", spy)
    assert tasks.requeue_stuck() == 5
    assert batches == [lost[:2], lost[2:4], lost[4:]]
    assert set(Event.objects.filter(pk__in=lost).values_list("status", flat=True)) == {"processed"}

    queued: list[list[int]] = []
    again = [ingest(f"again-{i}", "purchase", "bob").pk for i in range(3)]
    Event.objects.filter(pk__in=again).update(
        status="received", next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    monkeypatch.setattr(
        tasks.process_events, "apply_async", lambda args, **kw: queued.append(args[0])
    )
    assert tasks.requeue_stuck() == 3
    assert queued == [again[:2], again[2:]]
    leases = Event.objects.filter(pk__in=again).values_list("next_attempt_at", flat=True)
    assert all(at and at > timezone.now() for at in leases)  # handed off: not due again now
