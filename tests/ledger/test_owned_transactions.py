"""Issue 11, item 3: a transaction that belongs to a reward, a payout, a clawback or credits moves
only through its owner. The generic endpoints answer 409 invalid_transition and change nothing;
the database refuses the move too (committed transactions, so the deferred check runs)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from config.platform.exceptions import InvalidTransition
from ledger.booking.lines import PostingLine
from ledger.models import Transaction
from ledger.services.reconciliation import reconciliation_run
from ledger.services.transactions import (
    transaction_create,
    transaction_move,
    transaction_owner,
    transaction_post,
    transaction_reverse,
    transaction_void,
)
from rules.rewards.models import PayoutItem, Reward
from rules.rewards.services import payouts
from rules.rewards.services.credits import credit_apply
from rules.rewards.services.rewards import reward_clawback, reward_create, reward_reverse
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import CREATOR

pytestmark = pytest.mark.django_db(transaction=True)


def _pending_reward(program, beneficiary: str = "carol", amount: int = 1000) -> Reward:
    reward, _ = reward_create(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=program.currency,
        reward_type="cash",
        actor="test",
    )
    return Reward.objects.select_related("transaction").get(pk=reward.pk)


def _paid_reward(program, confirmed_reward, approved_batch) -> tuple[Reward, PayoutItem]:
    reward = confirmed_reward("carol", 1000)
    batch = approved_batch({"carol": None})
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    reward.refresh_from_db()
    assert reward.status == "paid"
    return reward, PayoutItem.objects.get(batch=batch)


def _problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


# --- the generic endpoints ------------------------------------------------------------------


@pytest.mark.parametrize("step", ["post", "void"])
def test_generic_post_or_void_of_a_rewards_pending_transaction_is_409(program, api, url, step):
    reward = _pending_reward(program)
    before = Transaction.objects.count()

    r = api.post(url(f"transactions/{reward.transaction_id}/{step}"))

    _problem(r, 409, "invalid_transition")
    assert "reward" in r.json()["detail"]
    reward.refresh_from_db()
    assert reward.status == "pending"
    assert Transaction.objects.count() == before
    assert not Transaction.objects.filter(resolves=reward.transaction_id).exists()


def test_generic_reverse_of_a_confirmed_rewards_transaction_is_409(
    program, api, url, confirmed_reward
):
    reward = confirmed_reward("carol", 1000)
    before = Transaction.objects.count()

    r = api.post(
        url(f"transactions/{reward.transaction_id}/reverse"),
        {"reason": "behind the reward's back"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rev-1",
    )

    _problem(r, 409, "invalid_transition")
    reward.refresh_from_db()
    assert reward.status == "confirmed"
    assert Transaction.objects.count() == before


def test_generic_reverse_of_a_payout_transfer_is_409_and_the_reward_stays_paid(
    program, api, url, confirmed_reward, approved_batch
):
    reward, item = _paid_reward(program, confirmed_reward, approved_batch)
    before = Transaction.objects.count()

    r = api.post(
        url(f"transactions/{item.transaction_id}/reverse"),
        {"reason": "undo the payout"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rev-payout",
    )

    _problem(r, 409, "invalid_transition")
    assert "payout" in r.json()["detail"]
    assert Transaction.objects.count() == before
    assert not Transaction.objects.filter(reverses=item.transaction_id).exists()
    reward.refresh_from_db()
    assert reward.status == "paid"
    assert reconciliation_run(program=program).status == "clean"


def test_generic_reverse_of_a_clawback_or_credits_transaction_is_409(
    program, api, url, confirmed_reward, approved_batch
):
    reward, _ = _paid_reward(program, confirmed_reward, approved_batch)
    clawed = reward_clawback(reward=reward, reason="refund", actor="test")
    entry, _ = credit_apply(
        program=program,
        owner_id="eve",
        operation="CREDIT_ADD",
        amount=None,
        nonce="n-1",
        actor="test",
    )
    before = Transaction.objects.count()
    for txn_id, owner in [
        (clawed.clawback_transaction_id, "clawback"),
        (entry.transaction_id, "credits"),
    ]:
        r = api.post(
            url(f"transactions/{txn_id}/reverse"),
            {"reason": "no"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"rev-{owner}",
        )
        _problem(r, 409, "invalid_transition")
        assert owner in r.json()["detail"]
    assert Transaction.objects.count() == before


def test_a_transaction_booked_through_the_api_still_moves(program, api, url):
    """The counterpart: the generic endpoints keep working for their own transactions."""
    body = {
        "postings": [
            {"account": "program:rewards_expense", "direction": "debit", "amount": 10},
            {"account": "program:payouts_clearing", "direction": "credit", "amount": 10},
        ],
        "pending": True,
    }
    txn = api.post(url("transactions"), body, format="json", HTTP_IDEMPOTENCY_KEY="t-1").json()
    assert api.post(url(f"transactions/{txn['id']}/post")).status_code == 200
    r = api.post(
        url(f"transactions/{txn['id']}/reverse"),
        {"reason": "mistake"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="t-2",
    )
    assert r.status_code == 201, r.content


def test_owner_is_known_from_reference_and_links(program, confirmed_reward, approved_batch):
    reward, item = _paid_reward(program, confirmed_reward, approved_batch)
    assert reward.transaction is not None and item.transaction is not None
    assert transaction_owner(reward.transaction) == "reward"
    assert transaction_owner(Transaction.objects.get(resolves=reward.transaction)) == "reward"
    assert transaction_owner(item.transaction) == "payout"
    plain = transaction_create(
        program=program,
        postings=[
            PostingLine("program:rewards_expense", "debit", 5),
            PostingLine("program:payouts_clearing", "credit", 5),
        ],
    )
    assert transaction_owner(plain) is None
    with pytest.raises(InvalidTransition):
        transaction_move(program=program, txn=item.transaction, step="reverse", actor="t")


# --- the database ---------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("move", [transaction_post, transaction_void])
def test_database_refuses_resolving_a_rewards_booking_behind_its_back(program, move):
    """The old endpoints' path (the bare service, no owner check): refused at commit, since the
    reward would stay pending while its money moved."""
    reward = _pending_reward(program)
    with pytest.raises(IntegrityError, match="belongs to reward"):
        with transaction.atomic():
            move(program=program, pending=reward.transaction, actor="raw")
    assert not Transaction.objects.filter(resolves=reward.transaction_id).exists()
    reward.refresh_from_db()
    assert reward.status == "pending"


@pytest.mark.postgres
def test_database_refuses_reversing_a_confirmed_rewards_booking_behind_its_back(
    program, confirmed_reward
):
    reward = confirmed_reward("carol", 1000)
    with pytest.raises(IntegrityError, match="belongs to reward"):
        with transaction.atomic():
            transaction_reverse(program=program, original=reward.transaction, reason="x")
    assert not Transaction.objects.filter(kind="reversal").exists()


def test_database_refuses_reversing_a_payout_transfer(program, confirmed_reward, approved_batch):
    """PostgreSQL at commit, SQLite at the insert: either way nothing is written."""
    reward, item = _paid_reward(program, confirmed_reward, approved_batch)
    assert item.transaction is not None
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            transaction_reverse(program=program, original=item.transaction, reason="x")
    assert not Transaction.objects.filter(reverses=item.transaction_id).exists()
    reward.refresh_from_db()
    assert reward.status == "paid"


def test_owners_still_move_their_transactions(program, confirmed_reward, approved_batch):
    """Every lifecycle step that moves a reward's money passes the database's check."""
    voided = reward_reverse(reward=_pending_reward(program, "dave"), reason="fraud", actor="t")
    assert voided.status == "reversed"
    reversed_ = reward_reverse(reward=confirmed_reward("erin", 300), reason="refund", actor="t")
    assert reversed_.status == "reversed"
    reward, _ = _paid_reward(program, confirmed_reward, approved_batch)
    assert reward_clawback(reward=reward, reason="refund", actor="t").status == "clawed_back"
    assert reconciliation_run(program=program).status == "clean"
