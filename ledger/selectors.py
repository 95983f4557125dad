"""Reads used in more than one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from config.platform.exceptions import NotFound
from config.platform.models import Program
from ledger.models import Account, AccountBalance, Posting

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
