"""Raw SQL against the tables that hold money (issue 11 review), in committed transactions: what
an insider with a database session could do without any service, and what the database must
refuse whatever the code does."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.platform.exceptions import InvalidTransition
from ledger.accounts import user_rewards_code
from ledger.models import Account, Transaction
from rules.rewards.models import PayoutBatch, PayoutItem
from rules.rewards.services import payouts
from rules.rewards.services.programs import program_create
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import APPROVER, CREATOR

pytestmark = pytest.mark.django_db(transaction=True)


def _sql(statement: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _db_uuid(value: uuid.UUID):
    return value.hex if connection.vendor == "sqlite" else value


@pytest.mark.parametrize("added_by", ["", "user:carol-friend"])
def test_an_item_slipped_into_an_approved_batch_is_refused(
    program, confirmed_reward, approved_batch, added_by
):
    """Was accepted, and executing the batch then paid dave 4,000 that nobody approved (an
    empty added_by escapes the four-eyes rule, which compares names)."""
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 4000)
    batch = approved_batch({"carol": 1000})
    with pytest.raises(IntegrityError, match="draft"):
        _sql(
            "INSERT INTO ledger_payoutitem (batch_id, beneficiary, amount, added_by, created_at)"
            " VALUES (%s, 'dave', 4000, %s, %s)",
            [batch.pk, added_by, timezone.now()],
        )
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    assert [(i.beneficiary, i.amount) for i in batch.items.all()] == [("carol", 1000)]
    dave = Account.objects.get(program=program, code=user_rewards_code("dave"))
    assert not dave.postings.filter(direction="debit").exists()


@pytest.mark.parametrize("status", ["pending_approval", "approved", "executed", "rejected"])
def test_items_go_into_drafts_only(program, confirmed_reward, status):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    payouts.payout_item_add(batch=batch, beneficiary="carol", amount=500, actor=CREATOR)
    if status != "rejected":
        payouts.payout_batch_submit(batch=batch, actor=CREATOR)
    if status in ("approved", "executed"):
        payouts.payout_batch_approve(batch=batch, actor=APPROVER)
    if status == "executed":
        payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    if status == "rejected":
        payouts.payout_batch_reject(batch=batch, actor=CREATOR, reason="no")
    assert PayoutBatch.objects.get(pk=batch.pk).status == status
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutItem.objects.create(batch=batch, beneficiary="eve", amount=1, added_by=CREATOR)
    assert batch.items.count() == 1


def test_the_service_still_fills_drafts(program, confirmed_reward):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    payouts.payout_item_add(batch=batch, beneficiary="carol", amount=500, actor=CREATOR)
    assert batch.items.get().amount == 500


def test_a_posting_on_another_programs_account_is_refused(program):
    """Was accepted: a raw transaction of acme moved money out of globex's expense account (same
    currency, so the currency rule did not see it) and no rule noticed."""
    globex, _ = program_create(slug="globex", name="Globex", currency="INR")
    mine = Account.objects.get(program=program, code="program:rewards_expense")
    theirs = Account.objects.get(program=globex, code="program:rewards_expense")
    txn_id = uuid.uuid4()
    now = timezone.now()
    with pytest.raises(IntegrityError, match="program"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ledger_transaction (id, program_id, kind, description, metadata,"
                " reference, created_at) VALUES (%s, %s, 'posted', '', '{}', '', %s)",
                [_db_uuid(txn_id), program.pk, now],
            )
            for account, direction in ((mine, "debit"), (theirs, "credit")):
                cursor.execute(
                    "INSERT INTO ledger_posting (transaction_id, account_id, direction, amount,"
                    " currency, kind, created_at) VALUES (%s, %s, %s, 100, 'INR', 'posted', %s)",
                    [_db_uuid(txn_id), account.pk, direction, now],
                )
    assert not Transaction.objects.filter(pk=txn_id).exists()


def test_re_executing_a_batch_set_back_to_approved_pays_nothing_twice(
    program, confirmed_reward, approved_batch
):
    """Held: a raw UPDATE can set an executed batch back to approved, but each item is booked
    once (database), so executing it again is refused and moves nothing."""
    confirmed_reward("carol", 5000)  # enough for a second payout: only the booking stops it
    batch = approved_batch({"carol": 1000})
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    before = Transaction.objects.count()
    _sql("UPDATE ledger_payoutbatch SET status = 'approved' WHERE id = %s", [batch.pk])
    with pytest.raises((InvalidTransition, IntegrityError)):
        payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    assert Transaction.objects.count() == before
