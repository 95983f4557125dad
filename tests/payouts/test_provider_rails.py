"""A provider rail's item after execution (SPEC §13): paid when Stripe made the transfer, failed
and booked back when Stripe refused it or when a reversal is found by polling later."""

from __future__ import annotations

import pytest

from ledger.services.reconciliation import reconciliation_run
from rules.rewards.models import PayoutItem, Reward
from rules.rewards.services.payout_items import payout_items_poll
from rules.rewards.services.payouts import payout_batch_execute
from rules.rewards.services.programs import program_create
from tests.payouts.conftest import CREATOR

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def usd(db):
    return program_create(slug="usd", name="USD shop", currency="USD")[0]


def test_stripe_paid_then_reversed_comes_back(usd, earned, approved, stripe_stub, notifications):
    reward = earned("carol", 2500, ("stripe_connect", {"account": "acct_1PartnerA"}), prog=usd)
    batch = approved(["carol"], rail="stripe_connect", prog=usd)
    payout_batch_execute(batch=batch, actor=CREATOR)
    item = PayoutItem.objects.get(batch=batch)
    assert item.status == "paid" and item.provider_ref.startswith("tr_")
    assert reconciliation_run(program=usd).findings == []

    stripe_stub.reverse(item.provider_ref)  # reversed on Stripe's side
    payout_items_poll()

    item.refresh_from_db()
    reward.refresh_from_db()
    assert item.status == "failed" and item.return_transaction is not None
    assert reward.status == "confirmed"
    assert [k for k, _p, _d in notifications if k.startswith("payout")] == [
        "payout.sent",
        "payout.failed",
    ]
    assert reconciliation_run(program=usd).findings == []


def test_stripe_refusal_fails_the_item_and_returns_the_money(usd, earned, approved, stripe_stub):
    earned("dave", 900, ("stripe_connect", {"account": "acct_1Unknown"}), prog=usd)
    batch = approved(["dave"], rail="stripe_connect", prog=usd)
    payout_batch_execute(batch=batch, actor=CREATOR)
    item = PayoutItem.objects.get(batch=batch)
    assert item.status == "failed" and "destination" in item.failure_reason
    assert Reward.objects.get(beneficiary="dave").status == "confirmed"
    assert reconciliation_run(program=usd).findings == []
