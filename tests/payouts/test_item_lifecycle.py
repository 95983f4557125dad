"""The payout item after execution (SPEC §13): sent → paid | failed, the return transfer,
rewards confirmed again, notifications, the csv and external rails, and reconciliation."""

from __future__ import annotations

import pytest

from config.platform.exceptions import InvalidTransition, ValidationFailed
from config.platform.models import AuditEntry, WebhookMessage
from config.platform.webhooks.endpoints import webhook_endpoint_create
from ledger.selectors import account_balance, account_get
from ledger.services.reconciliation import reconciliation_run
from rules.rewards.models import PayoutBatch, PayoutItem, Reward
from rules.rewards.services import payout_items, payouts
from rules.rewards.services.payout_methods import payout_method_set
from tests.ledger.triggers import triggers_off
from tests.payouts.conftest import APPROVER, CREATOR

pytestmark = pytest.mark.django_db(transaction=True)

PAYPAL = ("paypal", {"email": "carol@example.com"})


def _available(program, user: str) -> int:
    return account_balance(account_get(program=program, code=f"user:{user}:rewards"))["available"]


def _clean(program) -> None:
    report = reconciliation_run(program=program)
    assert report.findings == [], report.findings


def _only_item(batch: PayoutBatch) -> PayoutItem:
    return PayoutItem.objects.get(batch=batch)


def test_execution_marks_items_sent_and_tells_the_partner(program, earned, approved, notifications):
    earned("carol", 1500, PAYPAL)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)

    item = _only_item(batch)
    assert item.status == "sent" and item.sent_at is not None and item.method == "paypal"
    assert [
        (k, d["amount"], d["item"]) for k, _p, d in notifications if k.startswith("payout")
    ] == [("payout.sent", 1500, item.pk)]
    _clean(program)


def test_confirm_marks_paid_once(program, earned, approved):
    earned("carol", 1500)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    item = _only_item(batch)

    payout_items.payout_item_confirm(batch=batch, item=item, actor=CREATOR)
    payout_items.payout_item_confirm(batch=batch, item=item, actor=CREATOR)  # no second effect

    item.refresh_from_db()
    assert item.status == "paid" and item.paid_at is not None
    assert AuditEntry.objects.filter(action="payout_item.paid", object_id=str(item.pk)).count() == 1
    _clean(program)


def test_failed_item_returns_the_money_and_the_rewards(program, earned, approved, notifications):
    r1 = earned("carol", 1000)
    r2 = earned("carol", 500)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    assert _available(program, "carol") == 0
    item = _only_item(batch)

    payout_items.payout_item_fail(batch=batch, item=item, reason="account closed", actor=CREATOR)

    item.refresh_from_db()
    assert item.status == "failed" and item.failure_reason == "account closed"
    back = item.return_transaction
    assert back is not None and back.reference == f"payout:{batch.pk}:{item.pk}:return"
    legs = {(p.account.code, p.direction, p.amount) for p in back.postings.all()}
    assert legs == {
        ("program:payouts_clearing", "debit", 1500),
        ("user:carol:rewards", "credit", 1500),
    }
    assert _available(program, "carol") == 1500
    assert {r.status for r in Reward.objects.filter(pk__in=[r1.pk, r2.pk])} == {"confirmed"}
    kinds = [k for k, _p, _d in notifications if k.startswith("payout")]
    assert kinds == ["payout.sent", "payout.failed"]
    assert notifications[-1][2]["reason"] == "account closed"
    _clean(program)

    # Failing again changes nothing: one return transfer.
    payout_items.payout_item_fail(batch=batch, item=item, reason="again", actor=CREATOR)
    assert _available(program, "carol") == 1500
    _clean(program)


def test_returned_rewards_are_paid_again_by_a_later_batch(program, earned, approved):
    reward = earned("carol", 1000)
    first = approved(["carol"])
    payouts.payout_batch_execute(batch=first, actor=CREATOR)
    payout_items.payout_item_fail(
        batch=first, item=_only_item(first), reason="bounced", actor=CREATOR
    )

    second = approved(["carol"])
    payouts.payout_batch_execute(batch=second, actor=CREATOR)

    reward.refresh_from_db()
    assert reward.status == "paid"
    assert sorted(reward.payout_coverages.values_list("attempt", flat=True)) == [0, 1]
    assert _available(program, "carol") == 0
    _clean(program)


def test_a_paid_item_can_come_back(program, earned, approved):
    earned("carol", 1000)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    item = _only_item(batch)
    payout_items.payout_item_confirm(batch=batch, item=item, actor=CREATOR)

    payout_items.payout_item_fail(
        batch=batch, item=item, reason="returned by the bank", actor=CREATOR
    )

    item.refresh_from_db()
    assert item.status == "failed"
    assert _available(program, "carol") == 1000
    _clean(program)


def test_fail_needs_a_reason_and_an_executed_item(program, earned, approved):
    earned("carol", 1000)
    batch = approved(["carol"])
    item = _only_item(batch)
    with pytest.raises(InvalidTransition):  # not executed yet: pending
        payout_items.payout_item_fail(batch=batch, item=item, reason="x", actor=CREATOR)
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    with pytest.raises(ValidationFailed):
        payout_items.payout_item_fail(batch=batch, item=item, reason=" ", actor=CREATOR)
    payout_items.payout_item_fail(batch=batch, item=item, reason="bounced", actor=CREATOR)
    with pytest.raises(InvalidTransition):  # failed items are not confirmed
        payout_items.payout_item_confirm(batch=batch, item=item, actor=CREATOR)


def test_provider_rail_items_are_not_settled_by_hand(program, earned, approved):
    earned("carol", 1000, ("stripe_connect", {"account": "acct_1PartnerA"}))
    batch = approved(["carol"], rail="stripe_connect")
    # Execute books and marks sent; without STRIPE_SECRET_KEY the rail refuses to send.
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    item = _only_item(batch)
    assert item.status == "sent" and item.provider_ref == ""
    with pytest.raises(InvalidTransition):
        payout_items.payout_item_confirm(batch=batch, item=item, actor=CREATOR)
    with pytest.raises(InvalidTransition):
        payout_items.payout_item_fail(batch=batch, item=item, reason="x", actor=CREATOR)


def test_provider_rail_needs_a_matching_method(program, earned, approved):
    earned("carol", 1000, PAYPAL)
    batch = approved(["carol"], rail="stripe_connect")
    with pytest.raises(ValidationFailed, match="stripe_connect"):
        payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    batch.refresh_from_db()
    assert batch.status == "approved" and _available(program, "carol") == 1000


def test_external_rail_sends_one_payout_requested_per_item(program, earned, approved):
    endpoint = webhook_endpoint_create(
        program=program,
        url="https://hooks.example.com/payouts",
        events=["payout.requested"],
        actor="test",
    )
    earned("carol", 1000, PAYPAL)
    earned("dave", 700)
    batch = approved(["carol", "dave"], rail="external")
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)  # a repeat sends nothing more

    messages = WebhookMessage.objects.filter(endpoint=endpoint, event_type="payout.requested")
    payloads = sorted((m.payload for m in messages), key=lambda p: p["participant"])
    assert [(p["participant"], p["amount"], p["currency"]) for p in payloads] == [
        ("carol", 1000, "INR"),
        ("dave", 700, "INR"),
    ]
    carol = payloads[0]
    assert carol["idempotency_key"] == f"payout-item-{carol['item']}"
    assert carol["details"] == {"email": "c••••@example.com"}  # masked in the stored message
    items = {i.beneficiary: i for i in PayoutItem.objects.filter(batch=batch)}
    assert {i.status for i in items.values()} == {"sent"}
    payout_items.payout_item_confirm(batch=batch, item=items["carol"], actor=APPROVER)
    payout_items.payout_item_fail(batch=batch, item=items["dave"], reason="no", actor=APPROVER)
    _clean(program)


def test_reconciliation_finds_a_failed_item_without_its_return(program, earned, approved):
    earned("carol", 1000)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    item = _only_item(batch)
    with triggers_off():  # the database refuses it (0015); a superuser could still
        PayoutItem.objects.filter(pk=item.pk).update(status="failed")  # no transfer back

    findings = reconciliation_run(program=program).findings
    checks = {f["check"] for f in findings}
    assert "payout_items" in checks
    assert any("never returned" in f["message"] for f in findings)
    # The reward still paid though its item failed: reward_states says so too.
    assert "reward_states" in checks


def test_reconciliation_finds_a_confirmed_reward_of_a_sent_item(program, earned, approved):
    reward = earned("carol", 1000)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    Reward.objects.filter(pk=reward.pk).update(status="confirmed")

    findings = reconciliation_run(program=program).findings
    assert [f["check"] for f in findings] == ["reward_states"]


def test_payout_method_change_after_execution_does_not_change_the_item(program, earned, approved):
    earned("carol", 1000, PAYPAL)
    batch = approved(["carol"])
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    payout_method_set(
        program=program,
        beneficiary="carol",
        method="upi",
        details={"vpa": "carol@okaxis"},
        actor="t",
    )
    assert _only_item(batch).method == "paypal"
