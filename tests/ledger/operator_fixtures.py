"""Fixtures for the operator console tests (payouts, clawbacks, fraud review, reconciliation,
audit, admin). Test modules import them with `from tests.ledger.operator_fixtures import *`."""

from __future__ import annotations

import itertools

import pytest

from rules.rewards.models import PayoutBatch, Reward
from rules.rewards.services import payouts
from rules.rewards.services.rewards import reward_confirm, reward_create

CREATOR, APPROVER = "user:alice", "user:bob"
_keys = itertools.count(1)


@pytest.fixture
def confirmed_reward(program):
    """confirmed_reward(beneficiary, amount) -> a confirmed Reward (created now: oldest first
    is creation order)."""

    def make(beneficiary: str = "carol", amount: int = 1000, **extra) -> Reward:
        reward, _ = reward_create(
            program=program,
            beneficiary=beneficiary,
            amount=amount,
            currency=program.currency,
            reward_type="cash",
            source_key=f"test:{next(_keys)}",
            actor="test",
            **extra,
        )
        return reward_confirm(reward=reward, actor="test")

    return make


@pytest.fixture
def approved_batch(program):
    """approved_batch({"carol": None, "dave": 500}) -> an approved batch (None: whole balance)."""

    def make(items: dict[str, int | None], *, creator: str = CREATOR) -> PayoutBatch:
        batch = payouts.payout_batch_create(program=program, actor=creator)
        for beneficiary, amount in items.items():
            payouts.payout_item_add(
                batch=batch, beneficiary=beneficiary, amount=amount, actor=creator
            )
        payouts.payout_batch_submit(batch=batch, actor=creator)
        return payouts.payout_batch_approve(batch=batch, actor=APPROVER)

    return make


@pytest.fixture
def groups(db):
    """The console's groups, as the migrations create them (re-applied here because a
    transactional test elsewhere in the session may have flushed them)."""
    from tests.conftest import ensure_groups

    ensure_groups()


@pytest.fixture
def staff(db, groups):
    """staff(username, *group_names) -> a logged-in test Client for a staff user."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    def login(username: str, *group_names: str, superuser: bool = False) -> Client:
        user = get_user_model().objects.create_user(
            username=username, password="pw", is_staff=True, is_superuser=superuser
        )
        user.groups.add(*Group.objects.filter(name__in=group_names))
        client = Client()
        client.force_login(user)
        return client

    return login
