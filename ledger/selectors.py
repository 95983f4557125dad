"""Reads used in more than one place."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from config.db_router import replica_alias
from config.platform.exceptions import NotFound
from config.platform.models import Program
from ledger.models import Account, AccountBalance, Posting, ReconciliationRun, Transaction

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


def account_entries(*, account: Account) -> QuerySet[Posting]:
    """The account's postings, each with its account (the API pages them newest first)."""
    return Posting.objects.using(replica_alias()).filter(account=account).select_related("account")


def transaction_get(*, program: Program, pk: Any) -> Transaction:
    """The program's transaction with its resolution, reversal links and postings; 404
    `not_found` for an id that is not a UUID or not the program's."""
    try:
        txn_id = uuid.UUID(str(pk))
    except ValueError:
        raise NotFound(f"No transaction {pk}.") from None
    txn = (
        Transaction.objects.select_related("resolution", "reversal", "reverses")
        .prefetch_related("postings__account")
        .filter(program=program, pk=txn_id)
        .first()
    )
    if txn is None:
        raise NotFound(f"No transaction {pk}.")
    return txn


def reconciliation_run_latest(*, program: Program) -> ReconciliationRun:
    """The program's most recent stored reconciliation run; 404 `not_found` before the first."""
    run = ReconciliationRun.objects.filter(program=program).order_by("-finished_at", "-pk").first()
    if run is None:
        raise NotFound("No reconciliation has run for this program yet.")
    return run
