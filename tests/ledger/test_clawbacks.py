"""Clawbacks (SPEC §4): a paid reward refunded after payout is netted by the next payout."""

from __future__ import annotations

import pytest

from config.platform.exceptions import InsufficientFunds, InvalidTransition
from ledger.selectors import account_balance, account_get
from ledger.services.reconciliation import reconciliation_run
from rules.rewards.models import Reward
from rules.rewards.services import payouts
from rules.rewards.services.rewards import reward_clawback
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import APPROVER, CREATOR

pytestmark = pytest.mark.django_db(transaction=True)


def _available(program, user="carol") -> int:
    return account_balance(account_get(program=program, code=f"user:{user}:rewards"))["available"]


@pytest.fixture
def clawed_back(program, confirmed_reward, approved_batch) -> Reward:
    """carol was paid 1000, then the reward was refunded: she owes 1000."""
    reward = confirmed_reward("carol", 1000)
    payouts.payout_batch_execute(batch=approved_batch({"carol": None}), actor=APPROVER)
    reward.refresh_from_db()
    return reward_clawback(reward=reward, reason="order refunded", actor="user:ops")


def test_clawback_leaves_the_balance_negative(program, clawed_back):
    assert clawed_back.status == "clawed_back"
    assert _available(program) == -1000


def test_nothing_to_pay_while_the_debt_is_open(program, clawed_back, confirmed_reward):
    confirmed_reward("carol", 600)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    with pytest.raises(InsufficientFunds):
        payouts.payout_item_add(batch=batch, beneficiary="carol", actor=CREATOR)


def test_next_payout_nets_the_clawback(program, clawed_back, confirmed_reward, approved_batch):
    later = confirmed_reward("carol", 1500)

    batch = approved_batch({"carol": None})
    assert batch.items.get().amount == 500  # 1500 earned, 1000 owed

    payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    later.refresh_from_db()
    assert later.status == "paid" and _available(program) == 0
    assert reconciliation_run(program=program).status == "clean"


def test_only_paid_rewards_are_clawed_back(program, confirmed_reward, clawed_back):
    confirmed = confirmed_reward("dave", 100)
    with pytest.raises(InvalidTransition):
        reward_clawback(reward=confirmed, reason="refund", actor="user:ops")
    # A second clawback of the same reward changes nothing.
    assert reward_clawback(reward=clawed_back, reason="again", actor="user:ops").status == (
        "clawed_back"
    )
    assert _available(program) == -1000
