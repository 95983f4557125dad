"""Reused reads of the referral money domain: rewards, payout batches, a participant's reward
balance and ledger. The API, the admin and (next) the partner portal read through these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.db.models.functions import TruncDate

from config.db_router import replica_alias
from config.platform.db import prepared_cursor
from config.platform.exceptions import NotFound
from config.platform.models import Program
from ledger.accounts import user_codes_prefix, user_rewards_code
from ledger.models import Account, AccountBalance, Posting, Transaction
from ledger.selectors import POSTED_KINDS, account_balance
from rules.rewards.models import PayoutBatch, PayoutCoverage, PayoutItem, Reward, RewardHistory

PAYOUT_REFERENCE_PREFIX = "payout:"


# --- rewards ----------------------------------------------------------------------------------


def reward_get(*, program: Program, pk: Any) -> Reward:
    """The program's reward (no related rows); 404 `not_found` otherwise."""
    try:
        reward_id = int(str(pk))
    except ValueError:
        raise NotFound(f"No reward {pk}.") from None
    reward = Reward.objects.filter(program=program, pk=reward_id).first()
    if reward is None:
        raise NotFound(f"No reward {pk}.")
    return reward


def reward_list(
    *, program: Program, status: str | None = None, beneficiary: str | None = None
) -> QuerySet[Reward]:
    """The program's rewards with their history; `status` (a Reward.Status value) and
    `beneficiary` narrow them when given."""
    qs = Reward.objects.using(replica_alias()).filter(program=program).prefetch_related("history")
    if status is not None:
        qs = qs.filter(status=status)
    if beneficiary is not None:
        qs = qs.filter(beneficiary=beneficiary)
    return qs


def reward_detail(*, program: Program, pk: int) -> Reward:
    """A reward of the program as the API renders it: with its history."""
    return reward_list(program=program).using(DEFAULT_DB_ALIAS).get(pk=pk)  # after a write


def reward_history(*, reward: Reward) -> QuerySet[RewardHistory]:
    """The reward's status changes, oldest first."""
    return RewardHistory.objects.filter(reward=reward).order_by("at", "pk")


# --- payout batches ---------------------------------------------------------------------------


def payout_batch_get(*, program: Program, pk: Any) -> PayoutBatch:
    """The program's payout batch (no related rows); 404 `not_found` otherwise."""
    try:
        batch_id = int(str(pk))
    except ValueError:
        raise NotFound(f"No payout batch {pk}.") from None
    batch = PayoutBatch.objects.filter(program=program, pk=batch_id).first()
    if batch is None:
        raise NotFound(f"No payout batch {pk}.")
    return batch


def _items() -> QuerySet[PayoutItem]:
    return (
        PayoutItem.objects.select_related("batch")
        .prefetch_related("coverages")
        .order_by("beneficiary")
    )


def payout_batch_list(*, program: Program) -> QuerySet[PayoutBatch]:
    """The program's batches, each with its items (by beneficiary) and their coverages."""
    return (
        PayoutBatch.objects.using(replica_alias())
        .filter(program=program)
        .prefetch_related(Prefetch("items", queryset=_items()))
    )


def payout_batch_detail(*, program: Program, pk: int) -> PayoutBatch:
    """A batch of the program as the API renders it: with its items and their coverages."""
    return payout_batch_list(program=program).using(DEFAULT_DB_ALIAS).get(pk=pk)  # after a write


def payout_item_list(*, batch: PayoutBatch) -> QuerySet[PayoutItem]:
    """The batch's items by beneficiary, with the rewards each covers."""
    return _items().filter(batch=batch)


# --- a participant's money --------------------------------------------------------------------


def reward_balance_available(*, program: Program, beneficiary: str) -> int:
    """What the beneficiary can be paid: the available balance (posted less pending outflows)
    of their rewards account, 0 without one. Clawbacks are debits of that account, so this nets
    them (and may be negative)."""
    account = Account.objects.filter(program=program, code=user_rewards_code(beneficiary)).first()
    return 0 if account is None else account_balance(account)["available"]


def user_ledger_entries(*, program: Program, external_id: str) -> QuerySet[Posting]:
    """The postings on the user's accounts (user:{id}:*), each two-phase booking once: the
    post/void resolutions are left out (their pending transaction shows the status reached)."""
    accounts = Account.objects.filter(
        program=program, code__startswith=user_codes_prefix(external_id)
    ).values("pk")
    return (
        Posting.objects.using(replica_alias())
        .filter(account__in=accounts.using(replica_alias()))
        .exclude(kind__in=[Transaction.Kind.POST, Transaction.Kind.VOID])
        .select_related("account", "transaction__resolution")
    )


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
            [f"{PAYOUT_REFERENCE_PREFIX}%", program.pk, user_rewards_code(external_id)],
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


# --- a partner's own records (the partner portal, SPEC section 12) ----------------------------
# Every read below is narrowed to one beneficiary: a portal URL naming another participant's
# reward or payout finds nothing (404), never someone else's row.


def beneficiary_rewards(*, program: Program, beneficiary: str) -> QuerySet[Reward]:
    """The beneficiary's rewards, newest first."""
    return (
        Reward.objects.using(replica_alias())
        .filter(program=program, beneficiary=beneficiary)
        .order_by("-created_at", "-id")
    )


def beneficiary_reward(*, program: Program, beneficiary: str, pk: int) -> Reward | None:
    """One of the beneficiary's rewards with its history; None for anyone else's."""
    return (
        beneficiary_rewards(program=program, beneficiary=beneficiary)
        .prefetch_related("history")
        .filter(pk=pk)
        .first()
    )


def beneficiary_rewards_by_day(
    *, program: Program, beneficiary: str, since: datetime
) -> dict[date, tuple[int, int]]:
    """{UTC date: (rewards earned, their amount in minor units)} from `since` on, reversed and
    clawed-back rewards left out (they were never earned)."""
    rows = (
        Reward.objects.using(replica_alias())
        .filter(program=program, beneficiary=beneficiary, created_at__gte=since)
        .exclude(status__in=[Reward.Status.REVERSED, Reward.Status.CLAWED_BACK])
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), total=Sum("amount"))
        .values_list("day", "n", "total")
    )
    return {day: (int(n), int(total or 0)) for day, n, total in rows}


def beneficiary_payout_items(*, program: Program, beneficiary: str) -> QuerySet[PayoutItem]:
    """The beneficiary's payout items (one per batch), newest batch first, with their batch."""
    return (
        PayoutItem.objects.using(replica_alias())
        .filter(batch__program=program, beneficiary=beneficiary)
        .select_related("batch")
        .order_by("-batch__created_at", "-id")
    )


def beneficiary_payout_item(*, program: Program, beneficiary: str, pk: int) -> PayoutItem | None:
    """One of the beneficiary's payout items with the rewards it covers; None for anyone
    else's."""
    return (
        beneficiary_payout_items(program=program, beneficiary=beneficiary)
        .prefetch_related(
            Prefetch("coverages", queryset=PayoutCoverage.objects.select_related("reward"))
        )
        .filter(pk=pk)
        .first()
    )
