"""A payout batch on a provider rail, from execution to paid, failed and returned, through the
payout services, the official SDKs and the local provider stubs (issue 14, "done when")."""

from __future__ import annotations

import pytest

from ledger.selectors import account_balance, account_get
from ledger.services.reconciliation import reconciliation_run
from rules.rewards.models import PayoutItem, Reward
from rules.rewards.rails.base import rail_get
from rules.rewards.services import payouts
from rules.rewards.services.payout_items import payout_item_provider_result, payout_items_poll
from rules.rewards.services.payout_methods import payout_method_set
from rules.services.participants import participant_get_or_create
from tests.ledger.operator_fixtures import *  # noqa: F403  (confirmed_reward)
from tests.ledger.operator_fixtures import APPROVER, CREATOR
from tests.rails.stub_servers import PayPalOutcome

pytestmark = pytest.mark.django_db(transaction=True)


def _available(program, user: str) -> int:
    return account_balance(account_get(program=program, code=f"user:{user}:rewards"))["available"]


def _partner(program, external_id: str, method: str, details: dict) -> None:
    participant_get_or_create(program=program, external_id=external_id, actor="test")
    payout_method_set(
        program=program, beneficiary=external_id, method=method, details=details, actor="test"
    )


def _executed(program, rail: str, beneficiaries: list[str]):
    batch = payouts.payout_batch_create(program=program, actor=CREATOR, rail=rail)
    for beneficiary in beneficiaries:
        payouts.payout_item_add(batch=batch, beneficiary=beneficiary, actor=CREATOR)
    payouts.payout_batch_submit(batch=batch, actor=CREATOR)
    payouts.payout_batch_approve(batch=batch, actor=APPROVER)
    return payouts.payout_batch_execute(batch=batch, actor=CREATOR)


def _clean(program) -> None:
    report = reconciliation_run(program=program)
    assert report.findings == [], report.findings


def _items(batch) -> dict[str, PayoutItem]:
    return {i.beneficiary: i for i in PayoutItem.objects.filter(batch=batch)}


def test_stripe_connect_pays_fails_and_returns(program, confirmed_reward, stripe_stub):
    stripe_stub.balance["inr"] = 10**9
    _partner(program, "carol", "stripe_connect", {"account": "acct_1PartnerA"})
    _partner(program, "dave", "stripe_connect", {"account": "acct_1Closed"})
    carol_reward = confirmed_reward("carol", 1500)
    dave_reward = confirmed_reward("dave", 700)

    batch = _executed(program, "stripe_connect", ["carol", "dave"])

    items = _items(batch)
    assert (items["carol"].status, items["dave"].status) == ("paid", "failed")
    [transfer] = stripe_stub.transfers.values()
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (
        1500,
        "inr",
        "acct_1PartnerA",
    )
    assert items["carol"].provider_ref == transfer["id"]
    assert "No such destination" in items["dave"].failure_reason
    assert Reward.objects.get(pk=carol_reward.pk).status == "paid"
    assert Reward.objects.get(pk=dave_reward.pk).status == "confirmed"
    assert (_available(program, "carol"), _available(program, "dave")) == (0, 700)
    _clean(program)

    # Executing again (a retry after a crash) pays nobody twice.
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    assert len(stripe_stub.transfers) == 1

    # Stripe reverses the transfer; the rail's poll (or a webhook) says so: a return.
    stripe_stub.reverse(transfer["id"])
    [returned] = rail_get("stripe_connect").poll(
        program_id=program.pk, provider_refs=[transfer["id"]]
    )
    payout_item_provider_result(batch=batch, result=returned, actor="system:test")

    assert PayoutItem.objects.get(pk=items["carol"].pk).status == "failed"
    assert Reward.objects.get(pk=carol_reward.pk).status == "confirmed"
    assert _available(program, "carol") == 1500
    _clean(program)


def test_paypal_sends_then_polls_paid_and_failed(program, confirmed_reward, paypal_stub):
    paypal_stub.balance["INR"] = 1e9
    paypal_stub.outcomes["dave@example.com"] = PayPalOutcome(
        "FAILED", "RECEIVER_ACCOUNT_LOCKED", "Receiver's account is locked or inactive"
    )
    _partner(program, "carol", "paypal", {"email": "carol@example.com"})
    _partner(program, "dave", "paypal", {"email": "dave@example.com"})
    confirmed_reward("carol", 1234)
    dave_reward = confirmed_reward("dave", 700)

    batch = _executed(program, "paypal", ["carol", "dave"])

    items = _items(batch)
    assert {i.status for i in items.values()} == {"sent"}
    assert all(i.provider_ref for i in items.values())
    [carol_payout] = paypal_stub.items_to("carol@example.com")
    assert carol_payout["payout_item"]["amount"] == {"value": "12.34", "currency": "INR"}
    _clean(program)

    paypal_stub.settle()
    assert payout_items_poll() == 2

    items = _items(batch)
    assert (items["carol"].status, items["dave"].status) == ("paid", "failed")
    assert "RECEIVER_ACCOUNT_LOCKED" in items["dave"].failure_reason
    assert Reward.objects.get(pk=dave_reward.pk).status == "confirmed"
    assert _available(program, "dave") == 700
    _clean(program)
    # Executing again sends nothing: every item has PayPal's answer.
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    assert len(paypal_stub.batches) == 2
