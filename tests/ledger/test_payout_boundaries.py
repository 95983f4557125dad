"""Payout items at their limits (SPEC §7): the program's minimum payout and the beneficiary's
available balance, each one below, at and one above."""

from __future__ import annotations

import pytest

from config.platform.exceptions import InsufficientFunds, ValidationFailed
from rules.rewards.services import payouts
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import CREATOR

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "refused"),
    [(499, ValidationFailed), (500, None), (501, None)],
    ids=["one below the minimum", "at the minimum", "one above"],
)
def test_minimum_payout_boundary(program, confirmed_reward, amount, refused):
    program.min_payout = 500
    program.save(update_fields=["min_payout"])
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    if refused:
        with pytest.raises(refused):
            payouts.payout_item_add(batch=batch, beneficiary="carol", amount=amount, actor=CREATOR)
        assert not batch.items.exists()
    else:
        item = payouts.payout_item_add(
            batch=batch, beneficiary="carol", amount=amount, actor=CREATOR
        )
        assert item.amount == amount


@pytest.mark.parametrize(
    ("amount", "refused"),
    [(999, None), (1000, None), (1001, InsufficientFunds)],
    ids=["one below the balance", "the whole balance", "one above"],
)
def test_available_balance_boundary(program, confirmed_reward, amount, refused):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    if refused:
        with pytest.raises(refused):
            payouts.payout_item_add(batch=batch, beneficiary="carol", amount=amount, actor=CREATOR)
        assert not batch.items.exists()
    else:
        item = payouts.payout_item_add(
            batch=batch, beneficiary="carol", amount=amount, actor=CREATOR
        )
        assert item.amount == amount
