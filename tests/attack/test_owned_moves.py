"""The generic transaction endpoints against every transaction a lifecycle made (issue 11
review): after rewards were created, confirmed, voided, reversed, paid and clawed back and
credits were applied, `POST P/transactions/{id}/post|void|reverse` on each of those transactions
(the bookings, their posts, voids and reversals, payout transfers, clawbacks, credits) moves no
money, and the admin offers no way to either."""

from __future__ import annotations

import pytest

from ledger.booking.lines import PostingLine
from ledger.models import AccountBalance, Posting, Transaction
from ledger.services.transactions import transaction_create
from rules.rewards.services import payouts
from rules.rewards.services.credits import credit_apply
from rules.rewards.services.rewards import reward_clawback, reward_create, reward_reverse
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import CREATOR

pytestmark = pytest.mark.django_db(transaction=True)


def _balances() -> list[tuple]:
    return list(
        AccountBalance.objects.order_by("account_id", "shard").values_list(
            "account_id", "posted_debits", "posted_credits", "pending_debits", "pending_credits"
        )
    )


@pytest.fixture
def lifecycles(program, confirmed_reward, approved_batch):
    """Every kind of owned transaction: a pending booking, a posted one, a void, a reversal of
    a confirmed reward, a payout transfer, a clawback and credits."""
    reward_create(
        program=program,
        beneficiary="erin",
        amount=700,
        currency="INR",
        reward_type="cash",
        actor="t",
    )
    voided, _ = reward_create(
        program=program,
        beneficiary="erin",
        amount=300,
        currency="INR",
        reward_type="cash",
        actor="t",
    )
    reward_reverse(reward=voided, reason="refund", actor="t")
    reward_reverse(reward=confirmed_reward("dave", 400), reason="refund", actor="t")
    paid = confirmed_reward("carol", 1000)
    payouts.payout_batch_execute(batch=approved_batch({"carol": None}), actor=CREATOR)
    paid.refresh_from_db()
    reward_clawback(reward=paid, reason="fraud", actor="t")
    credit_apply(
        program=program, owner_id="eve", operation="CREDIT_ADD", amount=50, nonce="n1", actor="t"
    )
    kinds = set(Transaction.objects.values_list("kind", flat=True))
    assert {"pending", "post", "void", "reversal", "posted"} <= kinds


def test_no_generic_move_of_an_owned_transaction_moves_money(lifecycles, api, url):
    txns = list(Transaction.objects.order_by("created_at"))
    balances, postings = _balances(), Posting.objects.count()
    moved = []
    for txn in txns:
        for step in ("post", "void", "reverse"):
            r = api.post(
                url(f"transactions/{txn.pk}/{step}"),
                {"reason": "attack"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"{txn.pk}-{step}",
            )
            if r.status_code < 400 or r.status_code >= 500:
                moved.append(f"{step} {txn.kind} {txn.reference!r}: {r.status_code}")
            elif r.json()["code"] != "invalid_transition":
                moved.append(f"{step} {txn.kind} {txn.reference!r}: {r.json()['code']}")
    assert not moved, "\n".join(moved)
    assert Transaction.objects.count() == len(txns)
    assert (_balances(), Posting.objects.count()) == (balances, postings)


def test_a_transaction_booked_through_the_api_still_moves(program, api, url):
    """The refusal above is about owners, not about every transaction."""
    txn = transaction_create(
        program=program,
        postings=[
            PostingLine("program:rewards_expense", "debit", 10),
            PostingLine("program:payouts_clearing", "credit", 10),
        ],
    )
    r = api.post(
        url(f"transactions/{txn.pk}/reverse"),
        {"reason": "typo"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rev",
    )
    assert r.status_code in (200, 201), r.content


def test_the_admin_cannot_move_any_transaction(lifecycles, staff):
    """The transactions admin is read-only for everyone, superusers included: no add, change,
    delete or action that moves money."""
    root = staff("root", superuser=True)
    txn = Transaction.objects.filter(kind="pending").first()
    assert txn is not None
    assert root.get("/admin/ledger/transaction/add/").status_code == 403
    r = root.post(f"/admin/ledger/transaction/{txn.pk}/change/", {"description": "x"})
    assert r.status_code == 403
    assert root.post(
        f"/admin/ledger/transaction/{txn.pk}/delete/", {"post": "yes"}
    ).status_code in (
        403,
        404,
    )
    r = root.post(
        "/admin/ledger/transaction/",
        {"action": "delete_selected", "_selected_action": [str(txn.pk)], "post": "yes"},
    )
    assert Transaction.objects.filter(pk=txn.pk).exists() and r.status_code in (200, 302)
