"""What a booking does to its accounts' stored totals, and how every booking refuses."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError

from config.platform.exceptions import (
    AlreadyReversed,
    InsufficientFunds,
    InvalidTransition,
    ValidationFailed,
)
from ledger.models import DEBIT, Account, Transaction

Kind = Transaction.Kind
BIGINT_MAX = 2**63 - 1
TOTAL_COLUMNS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")

# A booking's lines once validated: (account, direction, amount).
Line = tuple[Account, str, int]
# Per account id: the account and [Δposted_debits, Δposted_credits, Δpending_debits,
# Δpending_credits].
Deltas = dict[int, tuple[Account, list[int]]]


class BalanceOverflow(ValidationFailed):
    """The booking would take an account's stored totals past what a bigint holds."""


def balance_deltas(kind: str, lines: Iterable[Line]) -> Deltas:
    """Per account: [Δposted_debits, Δposted_credits, Δpending_debits, Δpending_credits]."""
    deltas: Deltas = {}
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


def need(account: Account, pd: int, pc: int, qd: int, qc: int) -> int:
    """How much a move lowers a no_overdraft account's available balance (posted balance less
    pending outflows); 0 when it does not lower it, or the account may go negative."""
    if not account.no_overdraft:
        return 0
    lowered = pc + qc - pd if account.debit_normal else pd + qd - pc
    return max(lowered, 0)


def insufficient(account: Account) -> InsufficientFunds:
    return InsufficientFunds(
        f"Account {account.code} does not allow overdraft and lacks the funds for this move."
    )


def overflow(*accounts: Account) -> BalanceOverflow:
    codes = ", ".join(a.code for a in accounts)
    return BalanceOverflow(
        f"This move would take the stored totals of {codes} past the largest amount the ledger "
        f"holds ({BIGINT_MAX} minor units); nothing was written.",
        errors=[{"field": "postings", "message": f"{codes}: balance limit exceeded"}],
    )


def conflict(resolves: Transaction | None, reverses: Transaction | None) -> Exception:
    """A second post/void of a pending transaction, or a second reversal."""
    if reverses is not None:
        return AlreadyReversed(f"Transaction {reverses.pk} already has a reversal.")
    if resolves is not None:
        return InvalidTransition(f"Pending transaction {resolves.pk} is already resolved.")
    return IntegrityError("transaction id collision")
