"""Accounts and transactions: the only code that writes postings and balances."""

from __future__ import annotations

import random
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from ledger.exceptions import (
    AlreadyExists,
    AlreadyReversed,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidTransition,
    NotFound,
    UnbalancedTransaction,
    ValidationFailed,
)
from ledger.models import CREDIT, DEBIT, Account, AccountBalance, Posting, Program, Transaction
from ledger.services.audit import audit_record

ACCOUNT_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.@-]+)+$")
Kind = Transaction.Kind


@dataclass(frozen=True)
class PostingLine:
    """One requested posting: an account (by code or instance), a direction and an amount."""

    account: str | Account
    direction: str
    amount: int


# --- accounts -----------------------------------------------------------------------------


def _validate_code(code: str) -> None:
    if not ACCOUNT_CODE_RE.match(code):
        raise ValidationFailed(
            f"Account code {code!r} must look like 'user:alice:rewards' "
            "(lowercase type, then ':'-separated segments).",
            errors=[{"field": "code", "message": "invalid account code"}],
        )


def _create_account(
    *, program: Program, code: str, kind: str, no_overdraft: bool, shards: int
) -> Account:
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


def account_create(
    *,
    program: Program,
    code: str,
    kind: str,
    currency: str,
    no_overdraft: bool = False,
    actor: str = "system",
) -> Account:
    _validate_code(code)
    if kind not in Account.Kind.values:
        raise ValidationFailed(f"Unknown account kind {kind!r}.")
    if currency != program.currency:
        raise CurrencyMismatch(
            f"Account currency {currency} differs from the program's currency {program.currency}."
        )
    try:
        with transaction.atomic():
            account = _create_account(
                program=program, code=code, kind=kind, no_overdraft=no_overdraft, shards=1
            )
            audit_record(
                program=program,
                actor=actor,
                action="account.created",
                object_type="account",
                object_id=code,
                after={"kind": kind, "currency": currency, "no_overdraft": no_overdraft},
            )
    except IntegrityError:
        raise AlreadyExists(f"An account with code {code!r} already exists.") from None
    return account


def account_get_or_create(
    *, program: Program, code: str, kind: str, no_overdraft: bool = False, shards: int = 1
) -> Account:
    """For accounts the system opens on first use (a user's rewards or credits)."""
    account = Account.objects.filter(program=program, code=code).first()
    if account is not None:
        return account
    _validate_code(code)
    try:
        with transaction.atomic():
            return _create_account(
                program=program, code=code, kind=kind, no_overdraft=no_overdraft, shards=shards
            )
    except IntegrityError:  # opened concurrently
        return Account.objects.get(program=program, code=code)


# --- booking --------------------------------------------------------------------------------


def _resolve_accounts(program: Program, lines: Sequence[PostingLine]) -> dict[str, Account]:
    codes = {ln.account if isinstance(ln.account, str) else ln.account.code for ln in lines}
    found = {a.code: a for a in Account.objects.filter(program=program, code__in=codes)}
    missing = sorted(codes - found.keys())
    if missing:
        raise ValidationFailed(
            f"Unknown account(s): {', '.join(missing)}. Create them with POST accounts first.",
            errors=[{"field": "postings", "message": f"unknown account {c}"} for c in missing],
        )
    return found


def _check_lines(lines: Sequence[PostingLine], accounts: dict[str, Account]) -> None:
    if len(lines) < 2:
        raise ValidationFailed(
            "A transaction needs at least two postings.",
            errors=[{"field": "postings", "message": "at least two postings are required"}],
        )
    sums: dict[str, int] = defaultdict(int)
    for i, ln in enumerate(lines):
        if type(ln.amount) is not int or ln.amount <= 0:
            raise ValidationFailed(
                "Amounts are positive integers in minor units.",
                errors=[{"field": f"postings.{i}.amount", "message": "must be a positive integer"}],
            )
        if ln.direction not in (DEBIT, CREDIT):
            raise ValidationFailed(
                "Direction is 'debit' or 'credit'.",
                errors=[{"field": f"postings.{i}.direction", "message": "must be debit or credit"}],
            )
        account = accounts[ln.account if isinstance(ln.account, str) else ln.account.code]
        sums[account.currency] += ln.amount if ln.direction == DEBIT else -ln.amount
    unbalanced = {cur: diff for cur, diff in sums.items() if diff}
    if unbalanced:
        detail = ", ".join(f"{cur}: debits exceed credits by {d}" for cur, d in unbalanced.items())
        raise UnbalancedTransaction(f"Debits and credits must be equal per currency ({detail}).")


def _balance_deltas(
    kind: str, lines: Iterable[tuple[Account, str, int]]
) -> dict[int, tuple[Account, list[int]]]:
    """Per account: [Δposted_debits, Δposted_credits, Δpending_debits, Δpending_credits]."""
    deltas: dict[int, tuple[Account, list[int]]] = {}
    for account, direction, amount in lines:
        d = deltas.setdefault(account.pk, (account, [0, 0, 0, 0]))[1]
        side = 0 if direction == DEBIT else 1
        if kind in (Kind.POSTED, Kind.REVERSAL):
            d[side] += amount
        elif kind == Kind.PENDING:
            d[2 + side] += amount
        elif kind == Kind.POST:
            d[side] += amount
            d[2 + side] -= amount
        elif kind == Kind.VOID:
            d[2 + side] -= amount
    return deltas


def _apply_balances(deltas: dict[int, tuple[Account, list[int]]]) -> None:
    """Update stored totals in a fixed order (account id) so concurrent writers cannot deadlock.
    A no_overdraft account is updated only if the result keeps it at or above zero; the
    condition is re-checked by the database after it takes the row lock, so no interleaving of
    concurrent spends can overdraw it."""
    for account_id in sorted(deltas):
        account, (pd, pc, qd, qc) = deltas[account_id]
        shard = 0 if account.balance_shards == 1 else random.randrange(account.balance_shards)
        qs = AccountBalance.objects.filter(account_id=account_id, shard=shard)
        if account.no_overdraft:
            if account.debit_normal:
                available = F("posted_debits") - F("posted_credits") - F("pending_credits")
                need = pc + qc - pd
            else:
                available = F("posted_credits") - F("posted_debits") - F("pending_debits")
                need = pd + qd - pc
            if need > 0:
                qs = qs.filter(GreaterThanOrEqual(available, need))
        updated = qs.update(
            posted_debits=F("posted_debits") + pd,
            posted_credits=F("posted_credits") + pc,
            pending_debits=F("pending_debits") + qd,
            pending_credits=F("pending_credits") + qc,
        )
        if not updated:
            raise InsufficientFunds(
                f"Account {account.code} does not allow overdraft and lacks the funds for this move."
            )


def _book(
    *,
    program: Program,
    kind: str,
    lines: list[tuple[Account, str, int]],
    resolves: Transaction | None = None,
    reverses: Transaction | None = None,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    reference: str = "",
) -> Transaction:
    """Insert the transaction first: a second post/void/reversal of the same transaction then
    waits on the unique index and fails before touching any balance."""
    now = timezone.now()
    txn = Transaction(
        program=program,
        kind=kind,
        resolves=resolves,
        reverses=reverses,
        description=description[:500],
        metadata=metadata or {},
        reference=reference,
        created_at=now,
    )
    try:
        with transaction.atomic():
            txn.save(force_insert=True)
    except IntegrityError:
        if reverses is not None:
            raise AlreadyReversed(f"Transaction {reverses.pk} already has a reversal.") from None
        if resolves is not None:
            raise InvalidTransition(
                f"Pending transaction {resolves.pk} is already resolved."
            ) from None
        raise
    _apply_balances(_balance_deltas(kind, lines))
    txn._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "postings": Posting.objects.bulk_create(
            Posting(
                transaction=txn,
                account=account,
                direction=direction,
                amount=amount,
                currency=account.currency,
                kind=kind,
                created_at=now,
            )
            for account, direction, amount in lines
        )
    }
    return txn


def transaction_create(
    *,
    program: Program,
    postings: Sequence[PostingLine],
    pending: bool = False,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    reference: str = "",
    actor: str = "system",
    audit: bool = True,
) -> Transaction:
    """Book a balanced transaction (posted, or pending to be posted/voided later)."""
    accounts = _resolve_accounts(program, postings)
    _check_lines(postings, accounts)
    lines = [
        (
            accounts[ln.account if isinstance(ln.account, str) else ln.account.code],
            ln.direction,
            ln.amount,
        )
        for ln in postings
    ]
    with transaction.atomic():
        txn = _book(
            program=program,
            kind=Kind.PENDING if pending else Kind.POSTED,
            lines=lines,
            description=description,
            metadata=metadata,
            reference=reference,
        )
        if audit:
            audit_record(
                program=program,
                actor=actor,
                action="transaction.created",
                object_type="transaction",
                object_id=txn.pk,
                after={"kind": txn.kind, "reference": reference},
            )
    return txn


def transaction_get(*, program: Program, transaction_id: Any) -> Transaction:
    try:
        pk = uuid.UUID(str(transaction_id))
    except ValueError:
        raise NotFound(f"No transaction {transaction_id}.") from None
    txn = (
        Transaction.objects.select_related("resolution", "reversal")
        .prefetch_related("postings__account")
        .filter(program=program, pk=pk)
        .first()
    )
    if txn is None:
        raise NotFound(f"No transaction {transaction_id}.")
    return txn


def _copied_lines(txn: Transaction, *, mirror: bool) -> list[tuple[Account, str, int]]:
    flip = {DEBIT: CREDIT, CREDIT: DEBIT}
    return [
        (p.account, flip[p.direction] if mirror else p.direction, p.amount)
        for p in txn.postings.select_related("account").order_by("id")
    ]


def _resolve(
    *,
    program: Program,
    pending: Transaction,
    kind: str,
    actor: str,
    reason: str = "",
    audit: bool = True,
) -> Transaction:
    if pending.kind != Kind.PENDING:
        raise InvalidTransition(f"Transaction {pending.pk} is {pending.kind}, not pending.")
    if Transaction.objects.filter(resolves=pending).exists():
        raise InvalidTransition(f"Pending transaction {pending.pk} is already {pending.status}.")
    with transaction.atomic():
        txn = _book(
            program=program,
            kind=kind,
            lines=_copied_lines(pending, mirror=False),
            resolves=pending,
            description=f"{kind} of {pending.pk}",
            reference=pending.reference,
        )
        if audit:
            audit_record(
                program=program,
                actor=actor,
                action=f"transaction.{kind}",
                object_type="transaction",
                object_id=pending.pk,
                before={"status": "pending"},
                after={"status": "posted" if kind == Kind.POST else "voided"},
                reason=reason,
            )
    return txn


def transaction_post(
    *, program: Program, pending: Transaction, actor: str = "system", audit: bool = True
) -> Transaction:
    """Post a pending transaction: its reserved amounts become posted."""
    return _resolve(program=program, pending=pending, kind=Kind.POST, actor=actor, audit=audit)


def transaction_void(
    *,
    program: Program,
    pending: Transaction,
    actor: str = "system",
    reason: str = "",
    audit: bool = True,
) -> Transaction:
    """Void a pending transaction: its reservation is released and nothing is posted."""
    return _resolve(
        program=program, pending=pending, kind=Kind.VOID, actor=actor, reason=reason, audit=audit
    )


def transaction_reverse(
    *,
    program: Program,
    original: Transaction,
    reason: str,
    actor: str = "system",
    metadata: dict[str, Any] | None = None,
    audit: bool = True,
) -> Transaction:
    """Book a new posted transaction that mirrors every posting of a posted one, once."""
    if original.kind == Kind.PENDING:
        resolution = Transaction.objects.filter(resolves=original).first()
        if resolution is None or resolution.kind != Kind.POST:
            raise InvalidTransition(
                f"Transaction {original.pk} is {original.status}; void a pending transaction "
                "instead of reversing it."
            )
        original = resolution  # reversing a posted two-phase transfer mirrors its posting
    if original.kind not in (Kind.POSTED, Kind.POST):
        raise InvalidTransition(f"A {original.kind} transaction cannot be reversed.")
    if Transaction.objects.filter(reverses=original).exists():
        raise AlreadyReversed(f"Transaction {original.pk} already has a reversal.")
    with transaction.atomic():
        txn = _book(
            program=program,
            kind=Kind.REVERSAL,
            lines=_copied_lines(original, mirror=True),
            reverses=original,
            description=f"Reversal of {original.pk}: {reason}"[:500],
            metadata=metadata or {"reason": reason},
            reference=original.reference,
        )
        if audit:
            audit_record(
                program=program,
                actor=actor,
                action="transaction.reversed",
                object_type="transaction",
                object_id=original.pk,
                after={"reversal": str(txn.pk)},
                reason=reason,
            )
    return txn
