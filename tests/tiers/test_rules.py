"""A rule on the partner's tier, end to end: "Gold partners get 15%" is one rule."""

from __future__ import annotations

import pytest

from rules.rewards.models import Reward
from rules.services.participants import participant_upsert
from rules.tiers.services import tiers_recompute_all
from tests.rules.conftest import rule_def

pytestmark = pytest.mark.django_db(transaction=True)

GOLD_15 = rule_def(
    name="Gold partners get 15%",
    trigger="purchase",
    conditions={
        "operator": "AND",
        "conditions": [{"field": "referrer.tier", "operator": "equals", "value": "gold"}],
    },
    actions=[
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "referrer",
                "rate_bps": 1500,
                "of": "event.amount",
                "reward_type": "cash",
            },
        }
    ],
)


def test_gold_partners_get_15_percent_and_no_one_else(program, tiers, publish, refer, buy):
    refer("alice", "bob")
    refer("alice", "carol")
    refer("zed", "dave")
    # alice reaches gold: 5,000.00 INR over 3 purchases by 2 people.
    for user, amount in [("bob", 200000), ("carol", 200000), ("bob", 100000)]:
        buy(user, amount)
    tiers_recompute_all()
    # zed claims gold through an attribute: the computed tier wins.
    participant_upsert(program=program, external_id="zed", attributes={"tier": "gold"}, actor="t")
    publish(GOLD_15)

    buy("bob", 10000)
    buy("dave", 10000)

    rewards = list(Reward.objects.values_list("beneficiary", "amount"))
    assert rewards == [("alice", 1500)]


def test_a_demoted_partner_stops_getting_the_gold_rate(program, tiers, publish, refer, buy):
    from datetime import timedelta

    from django.utils import timezone

    refer("alice", "bob")
    refer("alice", "carol")
    for user, amount in [("bob", 200000), ("carol", 200000), ("bob", 100000)]:
        buy(user, amount, occurred_at=timezone.now() - timedelta(days=29))
    tiers_recompute_all()
    publish(GOLD_15)
    buy("bob", 10000)
    tiers_recompute_all(now=timezone.now() + timedelta(days=2))  # the window moved on
    buy("bob", 20000)
    assert list(Reward.objects.values_list("beneficiary", "amount")) == [("alice", 1500)]
