"""Portal fixtures: a program with two partners (alice, bob) who have emails, and a client
signed in as a partner."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client

from builder.portal.services import partner_account_ensure
from rules.rewards.services.program_settings import program_update
from rules.services.participants import participant_upsert

LINK = re.compile(r"https?://\S+/signin/link\?sesame=\S+")


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()  # the rate-limit counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def shop(program):
    return program_update(
        program=program,
        changes={
            "landing_url": "https://shop.example.com/welcome",
            "allowed_domains": ["example.com"],
        },
        actor="test",
    )


def _partner(program, external_id: str, email: str):
    return participant_upsert(
        program=program, external_id=external_id, attributes={"email": email}, actor="test"
    )[0]


@pytest.fixture
def alice(shop):
    return _partner(shop, "alice", "alice@example.com")


@pytest.fixture
def bob(shop):
    return _partner(shop, "bob", "bob@example.com")


def signed_in(participant) -> Client:
    client = Client()
    client.force_login(partner_account_ensure(participant=participant).user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    return signed_in(alice)


def link_in(message) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(0)


@pytest.fixture
def earn():
    """earn(participant, amount, confirm=True, hold="") -> a Reward of the participant."""
    from itertools import count

    from rules.rewards.services.rewards import reward_confirm, reward_create

    keys = count()

    def make(participant, amount: int, *, confirm: bool = True, hold: str = ""):
        reward, _ = reward_create(
            program=participant.program,
            beneficiary=participant.external_id,
            amount=amount,
            currency=participant.program.currency,
            reward_type="cash",
            source_key=f"portal-test:{participant.external_id}:{next(keys)}",
            hold_reason=hold,
            actor="test",
        )
        return reward_confirm(reward=reward, actor="test") if confirm else reward

    return make


@pytest.fixture
def pay():
    """pay(participant) -> the executed PayoutItem paying their whole available balance."""
    from rules.rewards.services import payouts

    def make(participant):
        program = participant.program
        batch = payouts.payout_batch_create(program=program, actor="user:maker", description="")
        item = payouts.payout_item_add(
            batch=batch, beneficiary=participant.external_id, actor="user:maker"
        )
        payouts.payout_batch_submit(batch=batch, actor="user:maker")
        payouts.payout_batch_approve(batch=batch, actor="user:checker")
        payouts.payout_batch_execute(batch=batch, actor="user:maker")
        item.refresh_from_db()
        return item

    return make
