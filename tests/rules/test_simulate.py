"""Simulation: replay stored events through a draft; nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.platform.models import AuditEntry
from ledger.models import Transaction
from rules.models import Event, Rule
from rules.rewards.models import Reward
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db

COMMISSION = rule_def(
    trigger="purchase",
    conditions={
        "operator": "AND",
        "conditions": [
            {"field": "event.amount", "operator": "greater_than_or_equal", "value": 1000}
        ],
    },
    actions=[
        {"type": "percent_commission", "params": {"of": "event.amount", "reward_type": "cash"}},
        {
            "type": "percent_commission",
            "params": {"beneficiary": "parent", "of": "event.amount", "reward_type": "cash"},
        },
    ],
)


@pytest.fixture
def history(refer, ingest):
    refer("alice", "bob")
    refer("bob", "carol")
    now = timezone.now()
    ingest("old", "purchase", "carol", data={"amount": 50000}, occurred_at=now - timedelta(days=40))
    ingest("p1", "purchase", "carol", data={"amount": 10000}, occurred_at=now - timedelta(days=2))
    ingest("p2", "purchase", "bob", data={"amount": 2000}, occurred_at=now - timedelta(days=1))
    ingest("p3", "purchase", "bob", data={"amount": 500}, occurred_at=now - timedelta(hours=1))
    ingest("s1", "signup", "bob", occurred_at=now - timedelta(hours=1))
    return now


def test_simulate_counts_matches_and_what_they_would_pay(api, url, history):
    before = (Reward.objects.count(), Transaction.objects.count(), AuditEntry.objects.count())
    body = api.post(
        url("rules/simulate"),
        {
            "definition": COMMISSION,
            "from": (history - timedelta(days=30)).isoformat(),
            "to": history.isoformat(),
        },
        format="json",
    ).json()
    # p1: bob 1000 + alice 200; p2: alice 200 (bob has no parent); p3 under the threshold.
    assert body["events_scanned"] == 3
    assert body["matched"] == 2
    assert body["rewards"]["count"] == 3 and body["rewards"]["amount"] == 1400
    after = (Reward.objects.count(), Transaction.objects.count(), AuditEntry.objects.count())
    assert after == before
    assert not Rule.objects.exists()
    assert set(Event.objects.values_list("status", flat=True)) == {"received"}


def test_simulate_rejects_an_invalid_draft_or_window(api, url, history):
    bad = rule_def(trigger="nope", conditions=ALWAYS, actions=[reward_action(1)])
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    response = api.post(url("rules/simulate"), {"definition": bad, **window}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "rule_invalid"
    backwards = {"from": window["to"], "to": window["from"]}
    response = api.post(
        url("rules/simulate"), {"definition": COMMISSION, **backwards}, format="json"
    )
    assert response.status_code == 400
    missing = api.post(url("rules/simulate"), {"definition": COMMISSION}, format="json")
    assert missing.status_code == 400
    assert {e["field"] for e in missing.json()["errors"]} == {"from", "to"}
