"""Issue 11, item 4: reconciliation never crashes on what it finds. For every registered check,
the database is corrupted the way a superuser could (triggers off), and the stored run must say
`discrepancies` and name that check; the API and the command show it. A check added later
without a corruption here fails `test_every_registered_check_has_a_corruption`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger.models import Account, Posting, ReconciliationRun
from ledger.services.reconciliation import reconciliation_run, registered_checks
from ledger.services.reconciliation_runs import reconciliation_record
from ledger.services.transactions import transaction_reverse
from rules.rewards.models import CreditEntry, PayoutItem, Reward
from rules.rewards.services import payouts
from rules.rewards.services.credits import credit_apply
from rules.rewards.services.rewards import reward_clawback, reward_create
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import CREATOR
from tests.ledger.triggers import triggers_off

pytestmark = pytest.mark.django_db(transaction=True)


def _sql(statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


@pytest.fixture
def books(program, confirmed_reward, approved_batch) -> dict[str, Any]:
    """A clean ledger with one of everything: a pending reward, a paid and clawed-back one (its
    payout executed), and a credits entry on a no_overdraft account."""
    pending, _ = reward_create(
        program=program,
        beneficiary="dave",
        amount=700,
        currency=program.currency,
        reward_type="cash",
        actor="test",
    )
    paid = confirmed_reward("carol", 1000)
    batch = approved_batch({"carol": None})
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    paid.refresh_from_db()
    clawed = reward_clawback(reward=paid, reason="refund", actor="test")
    entry, _ = credit_apply(
        program=program, owner_id="eve", operation="CREDIT_ADD", amount=None, nonce="n", actor="t"
    )
    assert reconciliation_run(program=program).status == "clean"
    return {
        "pending": pending,
        "clawed": clawed,
        "item": PayoutItem.objects.get(batch=batch),
        "credits": entry,
    }


def _first_posting(txn_id: Any, direction: str = "debit") -> Posting:
    return Posting.objects.filter(transaction_id=txn_id, direction=direction).order_by("id")[0]


def _unbalance(books: dict[str, Any]) -> None:
    posting = _first_posting(books["pending"].transaction_id)
    _sql("UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [posting.pk])


def _stored_totals(books: dict[str, Any]) -> None:
    account = Account.objects.get(program=books["pending"].program, code="user:dave:rewards")
    _sql(
        "UPDATE ledger_accountbalance SET pending_credits = pending_credits + 7"
        " WHERE account_id = %s",
        [account.pk],
    )


def _overdraft(books: dict[str, Any]) -> None:
    entry: CreditEntry = books["credits"]
    account = Account.objects.get(program=entry.program, code=f"user:{entry.owner_id}:credits")
    _sql(
        "UPDATE ledger_accountbalance SET posted_debits = posted_debits + 1000000"
        " WHERE account_id = %s",
        [account.pk],
    )


def _currency(books: dict[str, Any]) -> None:
    posting = _first_posting(books["credits"].transaction_id)
    _sql("UPDATE ledger_posting SET currency = 'USD' WHERE id = %s", [posting.pk])


def _reward_state(books: dict[str, Any]) -> None:
    _sql("UPDATE ledger_reward SET status = 'confirmed' WHERE id = %s", [books["pending"].pk])


def _clawback(books: dict[str, Any]) -> None:
    posting = _first_posting(books["clawed"].clawback_transaction_id)
    _sql("UPDATE ledger_posting SET amount = amount - 1 WHERE id = %s", [posting.pk])


def _payout_reversed(books: dict[str, Any]) -> None:
    """The issue's reproduction: a payout transfer reversed behind the batch's back (today the
    generic endpoint and the database refuse it; a superuser with triggers off still can)."""
    item: PayoutItem = books["item"]
    assert item.transaction is not None
    transaction_reverse(program=item.batch.program, original=item.transaction, reason="undo")


def _item_failed_unreturned(books: dict[str, Any]) -> None:
    """Issue 14: an item marked failed by hand, its money never booked back."""
    _sql("UPDATE ledger_payoutitem SET status = 'failed' WHERE id = %s", [books["item"].pk])


CORRUPTIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "transactions_balanced": _unbalance,
    "debits_equal_credits": _unbalance,
    "stored_totals_match_postings": _stored_totals,
    "no_overdraft_respected": _overdraft,
    "posting_currency_matches_account": _currency,
    "reward_states": _reward_state,
    "clawback_transfers": _clawback,
    "payout_transfers": _payout_reversed,
    "payout_items": _item_failed_unreturned,
}


def test_every_registered_check_has_a_corruption():
    missing = sorted(set(registered_checks()) - set(CORRUPTIONS))
    assert not missing, f"add a corruption for the new check(s) {missing} to CORRUPTIONS"


@pytest.mark.parametrize("check", registered_checks())
def test_each_check_finds_its_corruption_and_the_run_is_stored_and_shown(
    program, books, api, url, check
):
    if check not in CORRUPTIONS:
        pytest.fail(f"no corruption for check {check!r}: add one to CORRUPTIONS")
    with triggers_off():
        CORRUPTIONS[check](books)

    r = api.post(url("reconciliations"))

    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "discrepancies"
    assert check in {f["check"] for f in body["findings"]}
    assert {c["name"]: c["status"] for c in body["checks"]}[check] == "discrepancies"
    stored = ReconciliationRun.objects.get(pk=body["id"])
    assert stored.status == "discrepancies"
    assert check in {f["check"] for f in stored.findings}
    latest = api.get(url("reconciliations/latest")).json()
    assert latest["id"] == body["id"] and latest["findings"] == body["findings"]

    # The whole-ledger run (nightly, `manage.py reconcile`) stores and prints it too.
    run = reconciliation_record(actor="test")
    assert run.status == "discrepancies" and check in {f["check"] for f in run.findings}


def test_reconcile_command_reports_a_reversed_payout_transfer(program, books, capsys):
    """`manage.py reconcile` died with "Object of type UUID is not JSON serializable"."""
    with triggers_off():
        _payout_reversed(books)
    with pytest.raises(CommandError) as failed:
        call_command("reconcile")
    assert failed.value.returncode == 1
    out = capsys.readouterr().out
    assert "payout_transfers: discrepancies" in out
    assert str(books["item"].transaction_id) in out
    assert Reward.objects.get(pk=books["clawed"].pk).status == "clawed_back"


def test_a_check_that_fails_is_reported_not_raised(program, monkeypatch):
    """A check whose query cannot run on the data it meets is a finding; the run completes."""
    from ledger.services import reconciliation

    def broken(program):
        raise ValueError("cannot read this")

    monkeypatch.setitem(reconciliation._CHECKS, "broken_check", broken)
    report = reconciliation_run(program=program)
    assert report.status == "discrepancies"
    finding = next(f for f in report.findings if f["check"] == "broken_check")
    assert "cannot read this" in finding["message"]
