"""POST P/events/batch and batched processing (SPEC §14): per-event results with the
semantics of POST P/events, a failing event isolated in its batch, exactly one effect under
two concurrent batch workers, and a user's events applied in the order they happened."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from rules.models import Event
from rules.rewards.models import Reward
from rules.services import event_batch, handoff
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _inline_processing(settings):
    settings.CELERY_BROKER_URL = ""


@pytest.fixture
def purchase_rule(program):
    from rules.services.referrals import referral_create
    from rules.services.rules import rule_create, rule_publish

    definition = rule_def(trigger="purchase", conditions=ALWAYS, actions=[reward_action(100)])
    rule_publish(rule=rule_create(program=program, definition=definition, actor="t"), actor="t")
    for i in range(5):
        referral_create(program=program, referrer=f"ref{i}", referred=f"u{i}", actor="t")


@pytest.fixture
def no_hand_off(monkeypatch):
    """Store events without processing them, so the test processes them itself."""
    monkeypatch.setattr(handoff, "_enqueue", lambda pk, **kwargs: None)
    monkeypatch.setattr(handoff, "_enqueue_many", lambda pks: None)


def ev(event_id, user="u0", type="purchase", at=T0, **extra):
    return {"id": event_id, "type": type, "user": user, "occurred_at": at.isoformat(), **extra}


def post(api, url, events):
    return api.post(url("events/batch"), {"events": events}, format="json")


def test_each_event_gets_the_result_post_events_would_give(api, url, program, purchase_rule):
    first = post(api, url, [ev("e1"), ev("e2", user="u1", data={"amount": 5})])
    assert first.status_code == 202, first.json()
    assert [(x["id"], x["status"]) for x in first.json()["results"]] == [("e1", 202), ("e2", 202)]
    # Processed in batches in this process (no broker): the stored state is shown.
    assert {x["event"]["status"] for x in first.json()["results"]} == {"processed"}
    assert Reward.objects.count() == 2
    again = post(
        api,
        url,
        [
            ev("e1"),  # replay
            ev("e2", user="u2"),  # another body under a stored id
            {"id": "e3", "type": "Bad Type", "user": "u0"},
            {"type": "purchase"},
            ev("e4", user="u3", attributes={"plan": "pro"}),
        ],
    )
    results = again.json()["results"]
    assert [(x["id"], x["status"]) for x in results] == [
        ("e1", 200),
        ("e2", 422),
        ("e3", 400),
        ("", 400),
        ("e4", 202),
    ]
    assert results[0]["event"] == api.get(url("events/e1")).json()
    assert results[1]["error"]["code"] == "idempotency_key_reused"
    assert results[2]["error"]["code"] == "validation_error"
    assert Reward.objects.count() == 3
    assert api.get(url("participants/u3")).json()["attributes"]["plan"] == "pro"


@pytest.mark.parametrize(
    "body", [{"events": []}, {"events": {}}, {"events": ["x"]}, {}, {"events": [ev("a")] * 1001}]
)
def test_a_malformed_request_is_400(api, url, program, body):
    r = api.post(url("events/batch"), body, format="json")
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    assert Event.objects.count() == 0


def test_a_failing_event_rolls_back_only_itself(
    api, url, program, purchase_rule, monkeypatch, no_hand_off
):
    post(api, url, [ev(f"e{i}", user=f"u{i}") for i in range(5)])
    original = event_batch.rules_evaluate_and_act

    def fail_on_e2(event, **kwargs):
        results = original(event, **kwargs)
        if event.event_id == "e2":
            raise RuntimeError("boom after the reward was booked")
        return results

    monkeypatch.setattr(event_batch, "rules_evaluate_and_act", fail_on_e2)
    outcome = event_batch.events_process_batch(
        event_pks=list(Event.objects.values_list("pk", flat=True))
    )
    assert (outcome.processed, outcome.retry) == (4, 1)
    statuses = dict(
        Event.objects.filter(event_id__startswith="e").values_list("event_id", "status")
    )
    assert statuses == {
        "e0": "processed",
        "e1": "processed",
        "e2": "received",
        "e3": "processed",
        "e4": "processed",
    }
    failed = Event.objects.get(event_id="e2")
    assert "boom" in failed.error and failed.attempts == 1 and failed.next_attempt_at
    # Its reward was rolled back with it; the others' were kept.
    assert Reward.objects.count() == 4
    monkeypatch.setattr(event_batch, "rules_evaluate_and_act", original)
    Event.objects.filter(pk=failed.pk).update(next_attempt_at=None)
    assert event_batch.events_process_batch(limit=10).processed == 1
    assert Reward.objects.count() == 5
    assert Event.objects.get(pk=failed.pk).attempts == 2


def test_a_users_events_apply_in_the_order_they_happened(
    api, url, program, purchase_rule, no_hand_off
):
    """The refund arrives (and is stored) before the purchase it refunds, but happened after:
    in one batch the purchase is processed first, so the refund finds its reward."""
    post(
        api,
        url,
        [
            ev("r1", type="refund", at=T0 + timedelta(hours=1), data={"original_event_id": "p1"}),
            ev("p1", at=T0),
        ],
    )
    pks = list(Event.objects.filter(event_id__in=["r1", "p1"]).values_list("pk", flat=True))
    assert event_batch.events_process_batch(event_pks=pks).processed == 2
    [reward] = Reward.objects.all()
    assert reward.status == "reversed"
    refund = Event.objects.get(event_id="r1").refund
    assert refund is not None and refund["reversed"] == [reward.pk]


@pytest.mark.postgres
def test_two_concurrent_batch_workers_process_each_event_once(
    api, url, program, purchase_rule, no_hand_off
):
    post(api, url, [ev(f"e{i}", user=f"u{i % 5}", at=T0 + timedelta(seconds=i)) for i in range(80)])
    pks = list(Event.objects.filter(event_id__startswith="e").values_list("pk", flat=True))
    barrier = threading.Barrier(3)
    outcomes = []

    def work(kwargs):
        try:
            barrier.wait()
            outcomes.append(event_batch.events_process_batch(**kwargs))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(kw,))
        for kw in ({"event_pks": pks}, {"event_pks": pks[::-1]}, {"limit": 50})
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while event_batch.events_process_batch(limit=100).processed:  # deadlock victims, retried
        Event.objects.filter(status="received").update(next_attempt_at=None)
    Event.objects.filter(status="received").update(next_attempt_at=None)
    event_batch.events_process_batch(limit=100)
    assert set(Event.objects.values_list("status", flat=True)) == {"processed"}
    assert Reward.objects.count() == 80
    assert len(set(Reward.objects.values_list("source_key", flat=True))) == 80
    assert sum(o.processed for o in outcomes) + sum(o.retry for o in outcomes) <= 80
