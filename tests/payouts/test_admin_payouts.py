"""The payout console (SPEC §13): a batch prepared automatically with one button, the rail and
the sent/paid/failed amounts on the batch page, and the operator settling csv items."""

from __future__ import annotations

import pytest

from rules.rewards.models import PayoutBatch, PayoutItem, Reward
from rules.rewards.services import payouts
from tests.payouts.conftest import APPROVER, CREATOR

pytestmark = pytest.mark.django_db(transaction=True)

PAYPAL = ("paypal", {"email": "carol@example.com"})


def test_prepare_automatically_and_settle_items(program, earned, staff):
    reward = earned("carol", 1500, PAYPAL)
    earned("dave", 700)  # no payout method: skipped
    olga = staff("olga", "operators")

    response = olga.post(
        "/admin/ledger/payoutbatch/add/",
        {
            "program": program.pk,
            "description": "",
            "rail": "csv",
            "csv_format": "generic",
            "auto": "on",
        },
        follow=True,
    )
    page = response.content.decode()
    batch = PayoutBatch.objects.get()
    assert "prepared with 1 item" in page and "Skipped dave: no payout method set" in page
    assert [(i.beneficiary, i.amount) for i in batch.items.all()] == [("carol", 1500)]
    assert batch.created_by == "user:olga"

    payouts.payout_batch_submit(batch=batch, actor=CREATOR)
    payouts.payout_batch_approve(batch=batch, actor=APPROVER)
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    item = PayoutItem.objects.get(batch=batch)
    detail = olga.get(f"/admin/ledger/payoutbatch/{batch.pk}/change/").content.decode()
    assert 'id="batch-amounts"' in detail and "CSV file" in detail
    assert 'name="confirm-item"' in detail and 'name="fail-item"' in detail
    assert "carol@example.com" not in detail  # the method's name only, never its details

    step = f"/admin/ledger/payoutbatch/{batch.pk}/step/fail_item/"
    olga.post(step, {"item": item.pk, "reason": "PayPal account closed"})
    item.refresh_from_db()
    reward.refresh_from_db()
    assert item.status == "failed" and reward.status == "confirmed"
    detail = olga.get(f"/admin/ledger/payoutbatch/{batch.pk}/change/").content.decode()
    assert "PayPal account closed" in detail


def test_approvers_cannot_settle_items(program, earned, staff):
    earned("carol", 1500)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor=CREATOR)
    payouts.payout_batch_submit(batch=batch, actor=CREATOR)
    payouts.payout_batch_approve(batch=batch, actor=APPROVER)
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    item = PayoutItem.objects.get(batch=batch)
    bob = staff("bobby", "approvers")
    response = bob.post(
        f"/admin/ledger/payoutbatch/{batch.pk}/step/confirm_item/", {"item": item.pk}
    )
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == "sent"
    assert Reward.objects.get().status == "paid"
