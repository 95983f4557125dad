"""Fraud review: held rewards wait for an operator, who releases or reverses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.platform.exceptions import InvalidTransition
from config.platform.models import AuditEntry
from rules.rewards.models import HeldReward
from rules.rewards.services.rewards import (
    reward_confirm,
    reward_create,
    reward_release,
    reward_reverse,
    rewards_confirm_due,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _reward(program, amount=1000, hold_reason="", key="k1"):
    reward, _ = reward_create(
        program=program,
        beneficiary="carol",
        amount=amount,
        currency="INR",
        reward_type="cash",
        source_key=key,
        hold_reason=hold_reason,
        actor="rule:1",
    )
    return reward


def test_held_rewards_form_the_review_queue(program):
    held = _reward(program, hold_reason="self_referral: same email as referrer")
    _reward(program, key="k2")
    assert list(HeldReward.objects.values_list("pk", "hold_reason")) == [
        (held.pk, "self_referral: same email as referrer")
    ]


def test_amount_above_the_program_threshold_is_held(program):
    program.fraud_amount_threshold = 5000
    program.save(update_fields=["fraud_amount_threshold"])
    assert _reward(program, amount=5000, key="ok").hold_reason == ""
    assert "threshold" in _reward(program, amount=5001, key="big").hold_reason


def test_held_rewards_are_not_confirmed(program):
    program.hold_days = 1
    program.save(update_fields=["hold_days"])
    held = _reward(program, hold_reason="velocity: 12 referrals in an hour")
    with pytest.raises(InvalidTransition):
        reward_confirm(reward=held, actor="user:ops")
    assert rewards_confirm_due(now=timezone.now() + timedelta(days=2)) == 0
    held.refresh_from_db()
    assert held.status == "pending"


def test_release_then_confirm(program):
    held = _reward(program, hold_reason="self_referral: same device")
    released = reward_release(reward=held, reason="checked: siblings", actor="user:ops")
    assert released.hold_reason == "" and not HeldReward.objects.exists()
    entry = AuditEntry.objects.get(action="reward.released")
    assert (entry.actor, entry.reason) == ("user:ops", "checked: siblings")
    assert reward_confirm(reward=released, actor="user:ops").status == "confirmed"


def test_reverse_a_held_reward(program):
    held = _reward(program, hold_reason="self_referral: same ip")
    reversed_ = reward_reverse(reward=held, reason="confirmed fraud", actor="user:ops")
    assert reversed_.status == "reversed" and not HeldReward.objects.exists()
    assert reversed_.transaction is not None and reversed_.transaction.status == "voided"
