"""The database itself keeps the ledger append-only and balanced, whatever SQL reaches it.

These tests commit (transaction=True): a deferred constraint trigger only fires at COMMIT, so a
rolled-back test could never see it refuse anything."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.platform.exceptions import AlreadyReversed, InvalidTransition
from ledger.booking.lines import PostingLine
from ledger.models import Account, Posting, Transaction
from ledger.selectors import account_balance
from ledger.services.reconciliation import reconciliation_run
from ledger.services.transactions import (
    transaction_create,
    transaction_post,
    transaction_reverse,
    transaction_void,
)

pytestmark = pytest.mark.django_db(transaction=True)

EXPENSE, CLEARING = "program:rewards_expense", "program:payouts_clearing"


def _transfer(program, amount: int = 100, *, pending: bool = False) -> Transaction:
    return transaction_create(
        program=program,
        postings=[PostingLine(EXPENSE, "debit", amount), PostingLine(CLEARING, "credit", amount)],
        pending=pending,
    )


def _db_uuid(value: uuid.UUID) -> Any:
    return value.hex if connection.vendor == "sqlite" else value


def _raw_transaction(program, *, kind: str = "posted", resolves=None, reverses=None) -> uuid.UUID:
    txn_id = uuid.uuid4()
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO ledger_transaction (id, program_id, kind, resolves_id, reverses_id, "
            "description, metadata, reference, created_at) "
            "VALUES (%s, %s, %s, %s, %s, '', '{}', '', %s)",
            [
                _db_uuid(txn_id),
                program.pk,
                kind,
                resolves and _db_uuid(resolves),
                reverses and _db_uuid(reverses),
                timezone.now(),
            ],
        )
    return txn_id


def _raw_posting(txn_id: uuid.UUID, account: Account, direction: str, amount: int, kind="posted"):
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, "
            "kind, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [_db_uuid(txn_id), account.pk, direction, amount, "INR", kind, timezone.now()],
        )


def _accounts(program) -> tuple[Account, Account]:
    return (
        Account.objects.get(program=program, code=EXPENSE),
        Account.objects.get(program=program, code=CLEARING),
    )


# --- append-only ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_transaction SET description = 'edited'",
        "DELETE FROM ledger_transaction",
        "UPDATE ledger_posting SET amount = amount + 1",
        "DELETE FROM ledger_posting",
    ],
)
def test_raw_update_and_delete_are_refused(program, sql):
    _transfer(program)
    with pytest.raises(IntegrityError, match="not allowed"):
        with transaction.atomic(), connection.cursor() as c:
            c.execute(sql)
    assert Transaction.objects.filter(program=program, description="edited").count() == 0
    assert [p.amount for p in Posting.objects.filter(transaction__program=program)] == [100, 100]


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["ledger_transaction", "ledger_posting"])
def test_raw_truncate_is_refused(program, table):
    _transfer(program)
    with pytest.raises(IntegrityError, match="TRUNCATE"):
        with transaction.atomic(), connection.cursor() as c:
            c.execute(f"TRUNCATE {table} CASCADE")
    assert Posting.objects.count() == 2


def test_orm_update_is_refused_too(program):
    txn = _transfer(program)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Posting.objects.filter(transaction=txn).update(amount=1)


# --- balanced at commit ---------------------------------------------------------------------


@pytest.mark.postgres
def test_unbalanced_raw_insert_is_refused_at_commit(program):
    expense, clearing = _accounts(program)
    with pytest.raises(IntegrityError, match="unbalanced transaction"):
        with transaction.atomic():
            txn_id = _raw_transaction(program)
            _raw_posting(txn_id, expense, "debit", 100)
            _raw_posting(txn_id, clearing, "credit", 90)
            # Both rows are in: the check waits for COMMIT, where it refuses everything.
            assert Posting.objects.filter(transaction_id=txn_id).count() == 2
    assert not Transaction.objects.filter(pk=txn_id).exists()
    assert Posting.objects.count() == 0


@pytest.mark.postgres
def test_balanced_raw_insert_is_accepted(program):
    """The counterpart of the test above: the trigger refuses imbalance, not raw SQL as such."""
    expense, clearing = _accounts(program)
    with transaction.atomic():
        txn_id = _raw_transaction(program)
        _raw_posting(txn_id, expense, "debit", 60)
        _raw_posting(txn_id, expense, "debit", 40)
        _raw_posting(txn_id, clearing, "credit", 100)
    assert Posting.objects.filter(transaction_id=txn_id).count() == 3


@pytest.mark.postgres
@pytest.mark.parametrize("postings", [0, 1])
def test_transaction_with_fewer_than_two_postings_is_refused_at_commit(program, postings):
    expense, _ = _accounts(program)
    with pytest.raises(IntegrityError, match=r"at least two|unbalanced"):
        with transaction.atomic():
            txn_id = _raw_transaction(program)
            if postings:
                _raw_posting(txn_id, expense, "debit", 100)
    assert not Transaction.objects.filter(pk=txn_id).exists()


@pytest.mark.postgres
def test_posting_added_later_to_a_committed_transaction_is_refused(program):
    txn = _transfer(program)
    expense, _ = _accounts(program)
    # Refused as soon as it is inserted (0010), balanced or not.
    with pytest.raises(IntegrityError, match="committed earlier"):
        with transaction.atomic():
            _raw_posting(txn.pk, expense, "debit", 1)
    assert Posting.objects.filter(transaction=txn).count() == 2


@pytest.mark.parametrize("amount", [0, -5])
def test_check_constraint_keeps_amounts_positive(program, amount):
    txn = _transfer(program)
    expense, _ = _accounts(program)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _raw_posting(txn.pk, expense, "debit", amount)
    assert Posting.objects.filter(transaction=txn).count() == 2


# --- resolved once, reversed once -----------------------------------------------------------


def test_unique_resolves_refuses_a_second_resolution_by_raw_sql(program):
    pending = _transfer(program, pending=True)
    transaction_post(program=program, pending=pending)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _raw_transaction(program, kind="void", resolves=pending.pk)


def test_unique_reverses_refuses_a_second_reversal_by_raw_sql(program):
    original = _transfer(program)
    transaction_reverse(program=program, original=original, reason="first")
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _raw_transaction(program, kind="reversal", reverses=original.pk)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (transaction_post, transaction_void),
        (transaction_void, transaction_post),
        (transaction_post, transaction_post),
        (transaction_void, transaction_void),
    ],
)
def test_pending_is_resolved_exactly_once(program, first, second):
    pending = _transfer(program, pending=True)
    first(program=program, pending=pending)
    with pytest.raises(InvalidTransition, match="already"):
        second(program=program, pending=pending)
    assert Transaction.objects.filter(resolves=pending).count() == 1
    assert reconciliation_run(program=program).status == "clean"


def test_reversal_happens_at_most_once(program):
    original = _transfer(program)
    reversal = transaction_reverse(program=program, original=original, reason="error")
    assert reversal.reverses_id == original.pk
    with pytest.raises(AlreadyReversed):
        transaction_reverse(program=program, original=original, reason="again")
    with pytest.raises(InvalidTransition):
        transaction_reverse(program=program, original=reversal, reason="reverse the reversal")
    expense, _ = _accounts(program)
    assert account_balance(expense)["posted"]["balance"] == 0


def test_second_reversal_is_already_reversed_even_when_it_would_overdraw(program):
    """The refusal names the real reason: the transaction is reversed, not short of funds."""
    from ledger.services.accounts import account_create

    account_create(
        program=program, code="user:a:wallet", kind="liability", currency="INR", no_overdraft=True
    )
    original = transaction_create(
        program=program,
        postings=[PostingLine(EXPENSE, "debit", 50), PostingLine("user:a:wallet", "credit", 50)],
    )
    transaction_reverse(program=program, original=original, reason="first")
    with pytest.raises(AlreadyReversed):
        transaction_reverse(program=program, original=original, reason="second")


# --- races ----------------------------------------------------------------------------------


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment on real threads (each with its own connection);
    returns each call's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.postgres
def test_racing_post_and_void_resolve_exactly_once(program):
    for _ in range(5):
        pending = _transfer(program, 10, pending=True)
        results = _race(
            [
                partial(transaction_post, program=program, pending=pending),
                partial(transaction_void, program=program, pending=pending),
                partial(transaction_post, program=program, pending=pending),
                partial(transaction_void, program=program, pending=pending),
            ]
        )
        won = [r for r in results if isinstance(r, Transaction)]
        lost = [r for r in results if isinstance(r, InvalidTransition)]
        assert len(won) == 1 and len(lost) == 3, results
        assert Transaction.objects.filter(resolves=pending).count() == 1
    expense, _ = _accounts(program)
    assert account_balance(expense)["pending"]["balance"] == 0
    assert reconciliation_run(program=program).status == "clean"


@pytest.mark.postgres
def test_racing_reversals_reverse_exactly_once(program):
    original = _transfer(program, 70)
    results = _race(
        [
            partial(transaction_reverse, program=program, original=original, reason=f"r{i}")
            for i in range(6)
        ]
    )
    won = [r for r in results if isinstance(r, Transaction)]
    lost = [r for r in results if isinstance(r, AlreadyReversed)]
    assert len(won) == 1 and len(lost) == 5, results
    assert Transaction.objects.filter(reverses=original).count() == 1
    expense, _ = _accounts(program)
    assert account_balance(expense)["posted"] == {"debits": 70, "credits": 70, "balance": 0}
    assert reconciliation_run(program=program).status == "clean"


APPEND_ONLY = ["ledger_transaction", "ledger_posting", "ledger_rewardhistory", "ledger_auditentry"]


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_every_append_only_table_keeps_its_triggers_after_all_migrations(db, table):
    """SQLite drops a table's triggers when a migration rebuilds it; post_migrate restores them.
    A later migration that loses a trigger fails here, on either database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [table],
            )
            expected = {f"{table}_immutable", f"{table}_no_truncate"}
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
            )
            expected = {f"{table}_no_update", f"{table}_no_delete"}
        assert expected <= {row[0] for row in cursor.fetchall()}
