"""Reused reads of the referral money domain: a participant's reward balance."""

from __future__ import annotations

from typing import Any

from config.platform.db import prepared_cursor
from config.platform.models import Program
from ledger.models import Account, AccountBalance, Posting, Transaction
from ledger.selectors import POSTED_KINDS

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
