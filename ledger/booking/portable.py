"""Booking through the ORM, on any database (SQLite runs it; PostgreSQL runs `postgres`): each
step its own statement, and the caller's savepoint undoes a partial write on error. The
reference the PostgreSQL statement is tested against (tests/ledger/test_reward_statement.py)."""

from __future__ import annotations

import random
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.lookups import GreaterThanOrEqual

from config.platform.audit import audit_record
from config.platform.models import Program
from ledger.booking import totals
from ledger.booking.totals import Deltas, Line
from ledger.models import Account, AccountBalance, Posting, Transaction


def open_account(
    *, program: Program, code: str, kind: str, no_overdraft: bool, shards: int
) -> Account:
    """The account and its balance rows (one per shard; a no_overdraft account has one)."""
    account = Account.objects.create(
        program=program,
        code=code,
        kind=kind,
        currency=program.currency,
        no_overdraft=no_overdraft,
        balance_shards=1 if no_overdraft else shards,
    )
    AccountBalance.objects.bulk_create(
        AccountBalance(account=account, shard=s) for s in range(account.balance_shards)
    )
    return account


def book(
    txn: Transaction,
    lines: list[Line],
    deltas: Deltas,
    *,
    actor: str,
    audit: dict[str, Any] | None,
) -> None:
    """Write `txn`, its postings, the stored totals and its audit entry (`audit_record`'s
    keywords), or nothing: a savepoint undoes a partial write and the refusal is raised."""
    with transaction.atomic():
        _write(txn, lines, deltas)
        if audit is not None:
            audit_record(program=txn.program, actor=actor, **audit)


def _write(txn: Transaction, lines: list[Line], deltas: Deltas) -> None:
    try:
        with transaction.atomic():
            txn.save(force_insert=True)
    except IntegrityError:
        rival = (Q(resolves_id=txn.resolves_id) if txn.resolves_id else Q(pk__in=[])) | (
            Q(reverses_id=txn.reverses_id) if txn.reverses_id else Q(pk__in=[])
        )
        if not Transaction.objects.filter(rival).exists():
            raise  # not a second post/void/reversal: another rule of the database refused it
        raise totals.conflict(txn.resolves, txn.reverses) from None
    # A fixed order (account id) so concurrent writers cannot deadlock.
    for account_id in sorted(deltas):
        account, (pd, pc, qd, qc) = deltas[account_id]
        shard = 0 if account.balance_shards == 1 else random.randrange(account.balance_shards)
        qs = AccountBalance.objects.filter(account_id=account_id, shard=shard)
        # Totals that grow stay within a bigint (SQLite would silently turn them into floats).
        room = {
            f"{column}__lte": totals.BIGINT_MAX - delta
            for column, delta in zip(totals.TOTAL_COLUMNS, (pd, pc, qd, qc), strict=True)
            if delta > 0
        }
        if room and not qs.filter(**room).exists():
            raise totals.overflow(account)
        need = totals.need(account, pd, pc, qd, qc)
        if need:
            if account.debit_normal:
                available = F("posted_debits") - F("posted_credits") - F("pending_credits")
            else:
                available = F("posted_credits") - F("posted_debits") - F("pending_debits")
            qs = qs.filter(GreaterThanOrEqual(available, need))
        updated = qs.update(
            posted_debits=F("posted_debits") + pd,
            posted_credits=F("posted_credits") + pc,
            pending_debits=F("pending_debits") + qd,
            pending_credits=F("pending_credits") + qc,
        )
        if not updated:
            raise totals.insufficient(account)
    Posting.objects.bulk_create(
        Posting(
            transaction=txn,
            account=account,
            direction=direction,
            amount=amount,
            currency=account.currency,
            kind=txn.kind,
            created_at=txn.created_at,
        )
        for account, direction, amount in lines
    )
