"""Reads used in more than one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from ledger.db import prepared_cursor
from ledger.exceptions import NotFound
from ledger.models import Account, AccountBalance, Posting, Program, Transaction

POSTED_KINDS = ("posted", "post", "reversal")


def account_get(*, program: Program, code: str) -> Account:
    account = Account.objects.filter(program=program, code=code).first()
    if account is None:
        raise NotFound(f"No account {code!r}.")
    return account


def _signed(account: Account, debits: int, credits: int) -> int:
    return debits - credits if account.debit_normal else credits - debits


def account_balance(account: Account, *, as_of: datetime | None = None) -> dict[str, Any]:
    """Posted and pending totals, balances in the account's normal sign, and what is available
    (posted balance less pending outflows). Current balances sum the stored shard rows (a few
    rows, however many postings); `as_of` sums postings up to that time (posted only)."""
    zero = 0
    if as_of is None:
        t = AccountBalance.objects.filter(account=account).aggregate(
            pd=Coalesce(Sum("posted_debits"), zero),
            pc=Coalesce(Sum("posted_credits"), zero),
            qd=Coalesce(Sum("pending_debits"), zero),
            qc=Coalesce(Sum("pending_credits"), zero),
        )
    else:
        t = Posting.objects.filter(
            account=account, created_at__lte=as_of, kind__in=POSTED_KINDS
        ).aggregate(
            pd=Coalesce(Sum("amount", filter=Q(direction="debit")), zero),
            pc=Coalesce(Sum("amount", filter=Q(direction="credit")), zero),
        )
        t["qd"] = t["qc"] = 0
    posted = _signed(account, t["pd"], t["pc"])
    pending = _signed(account, t["qd"], t["qc"])
    outflow = t["qc"] if account.debit_normal else t["qd"]
    return {
        "code": account.code,
        "kind": account.kind,
        "currency": account.currency,
        "no_overdraft": account.no_overdraft,
        "posted": {"debits": t["pd"], "credits": t["pc"], "balance": posted},
        "pending": {"debits": t["qd"], "credits": t["qc"], "balance": pending},
        "available": posted - outflow,
        **({"as_of": as_of} if as_of is not None else {}),
    }


# --- rewards (user balance) -------------------------------------------------------------------

PAYOUT_REFERENCE_PREFIX = "payout:"


def _user_balance_sql() -> str:
    account, balance = Account._meta.db_table, AccountBalance._meta.db_table
    posting, txn = Posting._meta.db_table, Transaction._meta.db_table
    kinds = ", ".join(f"'{kind}'" for kind in POSTED_KINDS)
    return (
        f"SELECT a.kind,"
        f" (SELECT COALESCE(SUM(b.posted_debits - b.posted_credits), 0)"
        f"  FROM {balance} b WHERE b.account_id = a.id),"
        f" (SELECT COALESCE(SUM(b.pending_debits - b.pending_credits), 0)"
        f"  FROM {balance} b WHERE b.account_id = a.id),"
        f" (SELECT COALESCE(SUM(CASE WHEN p.direction = 'debit' THEN p.amount ELSE -p.amount END), 0)"
        f"  FROM {posting} p JOIN {txn} t ON t.id = p.transaction_id"
        f"  WHERE p.account_id = a.id AND p.kind IN ({kinds}) AND t.reference LIKE %s)"
        f" FROM {account} a WHERE a.program_id = %s AND a.code = %s"
    )


USER_BALANCE_SQL = _user_balance_sql()


def user_balance(*, program: Program, external_id: str) -> dict[str, Any]:
    """A beneficiary's rewards in minor units, read from their `user:{id}:rewards` account:
    `pending` = rewards booked but not yet confirmed (the account's pending balance);
    `available` = the posted balance (confirmed, less reversals, payouts and clawbacks; may be
    negative after a clawback); `paid` = net amount moved out by payouts (postings of
    transactions whose reference starts with "payout:", less their reversals).

    One statement (the hot read of the API): the account's shard totals and its payout
    postings, summed in the database; compiling the equivalent ORM aggregates cost several
    times more CPU than running them."""
    result: dict[str, Any] = {
        "user": external_id,
        "currency": program.currency,
        "pending": 0,
        "available": 0,
        "paid": 0,
    }
    with prepared_cursor() as cursor:
        cursor.execute(
            USER_BALANCE_SQL,
            [f"{PAYOUT_REFERENCE_PREFIX}%", program.pk, f"user:{external_id}:rewards"],
        )
        row = cursor.fetchone()
    if row is None:
        return result
    kind, posted, pending, paid = row
    sign = 1 if kind in Account.DEBIT_NORMAL else -1
    result["pending"] = sign * int(pending)
    result["available"] = sign * int(posted)
    result["paid"] = int(paid)
    return result
