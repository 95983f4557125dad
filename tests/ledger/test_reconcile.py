"""Reconciliation finds each kind of discrepancy. Discrepancies are planted by raw SQL with the
ledger's triggers switched off inside the test's own (rolled-back) transaction, which only a
superuser can do; the application never can."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from ledger.booking.lines import PostingLine
from ledger.models import Account, AccountBalance, Transaction
from ledger.services.reconciliation import reconciliation_run, register_check, registered_checks
from ledger.services.transactions import transaction_create, transaction_post

pytestmark = pytest.mark.django_db


def _triggers_off() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            # Run the checks already queued for the fixture's (valid) bookings first; in replica
            # mode the planted rows queue none.
            c.execute("SET CONSTRAINTS ALL IMMEDIATE")
            c.execute("SET CONSTRAINTS ALL DEFERRED")
            c.execute("SET LOCAL session_replication_role = replica")


def _sql(sql: str, params: list | None = None) -> None:
    with connection.cursor() as c:
        c.execute(sql, params or [])


@pytest.fixture
def booked(program):
    """A posted and a posted-after-pending transfer: a small, clean ledger."""
    transaction_create(
        program=program,
        postings=[
            PostingLine("program:rewards_expense", "debit", 700),
            PostingLine("program:payouts_clearing", "credit", 700),
        ],
    )
    pending = transaction_create(
        program=program,
        postings=[
            PostingLine("program:rewards_expense", "debit", 300),
            PostingLine("program:payouts_clearing", "credit", 300),
        ],
        pending=True,
    )
    transaction_post(program=program, pending=pending)
    transaction_create(
        program=program,
        postings=[
            PostingLine("program:rewards_expense", "debit", 50),
            PostingLine("program:payouts_clearing", "credit", 50),
        ],
        pending=True,
    )
    return program


def _db_uuid(value: uuid.UUID):
    return value.hex if connection.vendor == "sqlite" else value


def _insert_posting(txn_id, account: Account, direction: str, amount: int, kind: str) -> None:
    _sql(
        "INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, "
        "kind, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [_db_uuid(txn_id), account.pk, direction, amount, account.currency, kind, timezone.now()],
    )


def _insert_transaction(program, kind: str = "posted") -> uuid.UUID:
    txn_id = uuid.uuid4()
    _sql(
        "INSERT INTO ledger_transaction (id, program_id, kind, description, metadata, reference, "
        "created_at) VALUES (%s, %s, %s, '', '{}', '', %s)",
        [_db_uuid(txn_id), program.pk, kind, timezone.now()],
    )
    return txn_id


def _checks_with_findings(report) -> set[str]:
    return {f["check"] for f in report.findings}


def test_clean_ledger_is_clean(booked):
    report = reconciliation_run(program=booked)
    assert report.status == "clean", report.findings
    assert [c["name"] for c in report.checks] == registered_checks()
    assert all(c["status"] == "clean" for c in report.checks)
    assert reconciliation_run().status == "clean"


def test_unbalanced_transaction_is_found(booked):
    expense = Account.objects.get(program=booked, code="program:rewards_expense")
    txn = Transaction.objects.filter(program=booked, kind="posted").first()
    assert txn is not None
    _triggers_off()
    _insert_posting(txn.pk, expense, "debit", 5, "posted")
    report = reconciliation_run(program=booked)
    unbalanced = [f for f in report.findings if f["check"] == "transactions_balanced"]
    assert [f["object_id"] for f in unbalanced] == [str(txn.pk)]
    assert unbalanced[0]["actual"] == 5
    # Σ debits ≠ Σ credits follows, per program and over the whole ledger.
    overall = reconciliation_run()
    sums = [f for f in overall.findings if f["check"] == "debits_equal_credits"]
    assert {f["object_type"] for f in sums} == {"program", "ledger"}


def test_transaction_with_one_posting_is_found(booked):
    expense = Account.objects.get(program=booked, code="program:rewards_expense")
    clearing = Account.objects.get(program=booked, code="program:payouts_clearing")
    _triggers_off()
    lonely = _insert_transaction(booked)
    _insert_posting(lonely, expense, "debit", 9, "posted")
    empty = _insert_transaction(booked)
    # Balanced overall (the ledger-wide sums still agree), but each transaction is broken.
    other = _insert_transaction(booked)
    _insert_posting(other, clearing, "credit", 9, "posted")
    report = reconciliation_run(program=booked)
    broken = {f["object_id"] for f in report.findings if f["check"] == "transactions_balanced"}
    assert {str(lonely), str(empty), str(other)} <= broken
    assert not [f for f in report.findings if f["check"] == "debits_equal_credits"]


def test_stored_posted_total_differing_from_postings_is_found(booked):
    clearing = Account.objects.get(program=booked, code="program:payouts_clearing")
    _sql(
        "UPDATE ledger_accountbalance SET posted_credits = posted_credits + 1 "
        "WHERE account_id = %s AND shard = 3",
        [clearing.pk],
    )
    report = reconciliation_run(program=booked)
    assert _checks_with_findings(report) == {"stored_totals_match_postings"}
    (finding,) = report.findings
    assert finding["object_id"] == "program:payouts_clearing"
    assert finding["expected"]["posted_credits"] == 1000
    assert finding["actual"]["posted_credits"] == 1001
    assert "posted_credits" in finding["message"]


def test_stored_pending_total_differing_from_postings_is_found(booked):
    expense = Account.objects.get(program=booked, code="program:rewards_expense")
    # The pending total is pending postings less their post/void copies: 300 + 50 - 300.
    AccountBalance.objects.filter(account=expense).update(pending_debits=0)
    AccountBalance.objects.filter(account=expense, shard=0).update(pending_debits=350)
    (finding,) = reconciliation_run(program=booked).findings
    assert finding["check"] == "stored_totals_match_postings"
    assert finding["expected"]["pending_debits"] == 50
    assert finding["actual"]["pending_debits"] == 350


def test_posting_without_stored_total_is_found(booked):
    """A posting slipped in (balanced, so only the stored totals reveal it)."""
    expense = Account.objects.get(program=booked, code="program:rewards_expense")
    clearing = Account.objects.get(program=booked, code="program:payouts_clearing")
    _triggers_off()
    txn = _insert_transaction(booked)
    _insert_posting(txn, expense, "debit", 40, "posted")
    _insert_posting(txn, clearing, "credit", 40, "posted")
    report = reconciliation_run(program=booked)
    assert _checks_with_findings(report) == {"stored_totals_match_postings"}
    assert {f["object_id"] for f in report.findings} == {
        "program:rewards_expense",
        "program:payouts_clearing",
    }


def test_overdrawn_no_overdraft_account_is_found(booked):
    from ledger.services.accounts import account_create

    wallet = account_create(
        program=booked, code="user:bob:wallet", kind="liability", currency="INR", no_overdraft=True
    )
    AccountBalance.objects.filter(account=wallet).update(posted_debits=10)
    report = reconciliation_run(program=booked)
    assert "no_overdraft_respected" in _checks_with_findings(report)
    (finding,) = [f for f in report.findings if f["check"] == "no_overdraft_respected"]
    assert finding["object_id"] == "user:bob:wallet" and finding["actual"] == -10


def test_findings_are_scoped_to_the_program(booked):
    from rules.rewards.services.programs import program_create

    other, _ = program_create(slug="other", name="Other", currency="INR")
    clearing = Account.objects.get(program=other, code="program:payouts_clearing")
    AccountBalance.objects.filter(account=clearing, shard=0).update(posted_debits=1)
    assert reconciliation_run(program=booked).status == "clean"
    assert reconciliation_run(program=other).status == "discrepancies"
    assert reconciliation_run().status == "discrepancies"


def test_registered_checks_run_and_progress_is_reported(booked):
    calls = []

    @register_check("test_always_finds")
    def always(program):
        return [
            {
                "object_type": "x",
                "object_id": "1",
                "message": "planted",
                "expected": 1,
                "actual": 2,
            }
        ]

    from ledger.services import reconciliation

    try:
        report = reconciliation_run(
            program=booked, progress=lambda name, done, total: calls.append((name, done, total))
        )
    finally:
        reconciliation._CHECKS.pop("test_always_finds")
    assert report.status == "discrepancies"
    assert report.findings == [
        {
            "check": "test_always_finds",
            "object_type": "x",
            "object_id": "1",
            "message": "planted",
            "expected": 1,
            "actual": 2,
        }
    ]
    total = len(registered_checks()) + 1
    assert [c[1:] for c in calls] == [(i, total) for i in range(1, total + 1)]
    assert calls[-1][0] == "test_always_finds"


def test_reconcile_command_exits_0_when_clean_and_1_on_findings(booked, capsys):
    out = StringIO()
    call_command("reconcile", "--program", "acme", stdout=out)
    assert "clean" in out.getvalue()
    assert "reconcile" in capsys.readouterr().err  # the progress bar, on stderr

    clearing = Account.objects.get(program=booked, code="program:payouts_clearing")
    AccountBalance.objects.filter(account=clearing, shard=0).update(posted_debits=1)
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("reconcile", stdout=out)
    assert exc.value.returncode == 1
    assert "program:payouts_clearing" in out.getvalue()


def test_reconcile_command_unknown_program():
    with pytest.raises(CommandError, match="No program"):
        call_command("reconcile", "--program", "nope", stdout=StringIO())
