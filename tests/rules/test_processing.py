"""Event processing details beyond the end-to-end pipeline tests: how an event becomes failed,
and the compiled rule set behind evaluation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.platform.models import AuditEntry, WebhookEndpoint, WebhookMessage
from rules.engine.trace import is_compact_trace
from rules.event_explain import expand_event_traces
from rules.models import Event
from rules.rewards.models import Reward
from rules.services import processing
from tests.rules.conftest import ALWAYS, reward_action, rule_def


@pytest.fixture
def failure_hook(program):
    # Rolled-back tests: the outbox row is written, delivery (after commit) never starts.
    return WebhookEndpoint.objects.create(
        program=program, url="https://hooks.example/x", secret="s", events=["event.failed"]
    )


def _trail(event: Event) -> tuple[dict, dict]:
    audit = AuditEntry.objects.get(action="event.failed", object_id=event.event_id)
    message = WebhookMessage.objects.get(event_type="event.failed", payload__id=event.event_id)
    assert audit.after is not None
    return audit.after, message.payload


@pytest.mark.django_db
def test_event_abandoned_by_dead_workers_fails_like_any_final_failure(
    program, ingest, failure_hook, monkeypatch
):
    long_ago = timezone.now() - processing.STUCK_AFTER - timedelta(minutes=1)
    # Fails the normal way: every attempt raises.
    monkeypatch.setattr(processing, "rules_evaluate_and_act", lambda event: 1 / 0)
    errored = ingest("errored", "purchase", "bob")  # rolled back: nothing processed on commit
    while processing.event_process(event_pk=errored.pk).status == "retry":
        pass
    monkeypatch.undo()
    # Fails in the sweeper: its worker died on the fifth attempt, and once on another event.
    abandoned = ingest("abandoned", "purchase", "bob")
    Event.objects.filter(pk=abandoned.pk).update(
        status="processing", attempts=processing.MAX_ATTEMPTS, claimed_at=long_ago
    )
    once = ingest("once", "purchase", "bob")
    Event.objects.filter(pk=once.pk).update(status="processing", attempts=1, claimed_at=long_ago)

    due = processing.events_requeue_stuck()

    abandoned.refresh_from_db()
    assert abandoned.status == "failed" and abandoned.next_attempt_at is None
    assert abandoned.error == f"worker lost {processing.MAX_ATTEMPTS} times while processing"
    assert due == [once.pk] and Event.objects.get(pk=once.pk).status == "received"
    audit, payload = _trail(abandoned)
    assert audit == {"attempts": processing.MAX_ATTEMPTS, "error": abandoned.error}
    assert payload == {
        "id": "abandoned",
        "type": "purchase",
        "attempts": processing.MAX_ATTEMPTS,
        "error": abandoned.error,
    }
    # The same trail as an event that failed in processing, and none for the re-queued one.
    errored.refresh_from_db()
    errored_audit, errored_payload = _trail(errored)
    assert errored.status == "failed" and errored_audit["error"].startswith("ZeroDivisionError")
    assert errored_audit.keys() == audit.keys() and errored_payload.keys() == payload.keys()
    assert not AuditEntry.objects.filter(action="event.failed", object_id="once").exists()
    assert WebhookMessage.objects.filter(event_type="event.failed").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_newly_published_version_replaces_the_compiled_rules(program, publish, refer, ingest):
    from rules.services.rules import rule_publish, rule_update

    refer("alice", "bob")
    rule = publish(rule_def(conditions=ALWAYS, actions=[reward_action(10)]))
    first = Event.objects.get(pk=ingest("p-1", "subscription_started", "bob").pk)
    gold_only = {
        "operator": "AND",
        "conditions": [{"field": "event.plan", "operator": "equals", "value": "gold"}],
    }
    rule = rule_update(
        rule=rule,
        definition=rule_def(conditions=gold_only, actions=[reward_action(20)]),
        actor="test",
    )
    rule_publish(rule=rule, actor="test")
    silver = Event.objects.get(
        pk=ingest("p-2", "subscription_started", "bob", data={"plan": "silver"}).pk
    )
    gold = Event.objects.get(
        pk=ingest("p-3", "subscription_started", "bob", data={"plan": "gold"}).pk
    )

    assert [(r["version"], r["matched"]) for r in first.results] == [(1, True)]
    assert [(r["version"], r["matched"]) for r in silver.results] == [(2, False)]
    # Events store the compact trace; reading them rebuilds the per-leaf dicts.
    assert is_compact_trace(silver.results[0]["trace"])
    expand_event_traces([silver])
    assert silver.results[0]["trace"][0]["actual"] == "silver"
    assert [(r["version"], r["matched"]) for r in gold.results] == [(2, True)]
    assert sorted(Reward.objects.values_list("amount", flat=True)) == [10, 20]


@pytest.mark.django_db(transaction=True)
def test_rules_after_a_stop_are_neither_traced_nor_recorded(
    program, publish, refer, ingest, monkeypatch
):
    from rules.engine import CompiledRule, CompiledRuleset

    calls: list[tuple[str, object]] = []

    def spy(name: str, real):
        def call(self, facts):
            calls.append((name, self))
            return real(self, facts)

        return call

    for cls, name in (
        (CompiledRuleset, "evaluate_stored"),
        (CompiledRuleset, "evaluate"),
        (CompiledRuleset, "matching"),
        (CompiledRule, "evaluate"),
        (CompiledRule, "matches"),
    ):
        monkeypatch.setattr(cls, name, spy(name, getattr(cls, name)))
    refer("alice", "bob")
    never = {
        "operator": "AND",
        "conditions": [{"field": "event.plan", "operator": "equals", "value": "gold"}],
    }
    publish(rule_def(name="a", priority=30, conditions=never))
    stop = publish(rule_def(name="b", priority=20, conditions=ALWAYS, stop_processing=True))
    publish(rule_def(name="c", priority=10, conditions=ALWAYS))
    event = Event.objects.get(pk=ingest("p-1", "subscription_started", "bob").pk)

    assert [r["matched"] for r in event.results] == [False, True, False]
    assert [r["outcome"] for r in event.results] == ["not_matched", "matched", "suppressed"]
    expand_event_traces([event])
    assert event.results[0]["trace"][0]["field"] == "event.plan"
    assert event.results[1]["rule"] == stop.pk
    assert event.results[2]["suppressed_by"] == stop.pk and "trace" not in event.results[2]
    # One traced evaluation of the trigger's rules together, in priority order; no second pass.
    [(name, ruleset)] = calls
    assert name == "evaluate_stored" and isinstance(ruleset, CompiledRuleset)
    assert [d["name"] for d in ruleset.definitions] == ["a", "b", "c"]
    assert Reward.objects.get().amount == 50000
