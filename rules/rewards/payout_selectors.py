"""Reused reads of payout methods, rails and item outcomes (SPEC §13), beside the batch reads
in rules.rewards.selectors. Selectors read: they call no service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.platform.exceptions import NotFound
from config.platform.models import Program
from ledger.accounts import user_rewards_code
from ledger.models import Account, AccountBalance
from rules.rewards.models import PayoutBatch, PayoutCoverage, PayoutItem, PayoutMethod

ItemStatus = PayoutItem.Status


def payout_method_get(*, program: Program, beneficiary: str) -> PayoutMethod | None:
    return PayoutMethod.objects.filter(program=program, beneficiary=beneficiary).first()


def payout_method_required(*, program: Program, beneficiary: str) -> PayoutMethod:
    method = payout_method_get(program=program, beneficiary=beneficiary)
    if method is None:
        raise NotFound(f"{beneficiary} has no payout method.")
    return method


def payout_methods_of(*, program: Program, beneficiaries: Iterable[str]) -> dict[str, PayoutMethod]:
    """{beneficiary: their payout method} for those who set one."""
    return {
        m.beneficiary: m
        for m in PayoutMethod.objects.filter(program=program, beneficiary__in=list(beneficiaries))
    }


def payout_item_get(*, batch: PayoutBatch, pk: Any) -> PayoutItem:
    """The batch's item; 404 `not_found` otherwise (also for another batch's item)."""
    try:
        item_id = int(str(pk))
    except ValueError:
        raise NotFound(f"No payout item {pk} in batch {batch.pk}.") from None
    item = PayoutItem.objects.filter(batch=batch, pk=item_id).first()
    if item is None:
        raise NotFound(f"No payout item {pk} in batch {batch.pk}.")
    return item


def payout_amounts(items: Iterable[PayoutItem]) -> dict[str, int]:
    """What the items sent, paid and failed, in minor units (`sent` counts the items still
    awaiting their outcome; `pending`, those not executed yet)."""
    amounts = {s: 0 for s in ItemStatus.values}
    for item in items:
        amounts[item.status] += item.amount
    return amounts


def payout_coverage_attempts(reward_ids: Iterable[int]) -> dict[int, int]:
    """{reward id: how many payouts have covered it so far} (the next coverage's `attempt`)."""
    rows = (
        PayoutCoverage.objects.filter(reward_id__in=list(reward_ids))
        .values("reward_id")
        .annotate(n=Count("pk"))
        .values_list("reward_id", "n")
    )
    return {reward_id: n for reward_id, n in rows}


def payout_items_awaiting_provider(*, batch: PayoutBatch) -> list[PayoutItem]:
    """Items handed to a provider rail whose answer we have not recorded (no provider_ref)."""
    return list(batch.items.filter(status=ItemStatus.SENT, provider_ref="").order_by("beneficiary"))


# How long after it was paid a provider payout may still come back (PayPal: unclaimed money
# returns after 30 days; Stripe: a transfer reversed from the dashboard).
RETURN_WINDOW = timedelta(days=45)


def payout_items_to_poll(*, program: Program | None = None, limit: int = 500) -> list[PayoutItem]:
    """Items on provider rails that the provider acknowledged: sent ones (how did they end?) and
    those paid within RETURN_WINDOW (did they come back?)."""
    recently_paid = Q(status=ItemStatus.PAID, paid_at__gte=timezone.now() - RETURN_WINDOW)
    qs = PayoutItem.objects.filter(Q(status=ItemStatus.SENT) | recently_paid).exclude(
        provider_ref=""
    )
    qs = qs.filter(
        batch__rail__in=[PayoutBatch.Rail.PAYPAL, PayoutBatch.Rail.STRIPE_CONNECT]
    ).select_related("batch__program")
    if program is not None:
        qs = qs.filter(batch__program=program)
    return list(qs.order_by("pk")[:limit])


def payout_candidates(*, program: Program) -> list[tuple[str, int]]:
    """(beneficiary, available balance) of everyone with a rewards account in the program, by
    beneficiary; one aggregate over the balance rows (available = posted less pending outflows,
    as ledger.selectors.account_balance computes it for one account)."""
    prefix, suffix = user_rewards_code("{}").split("{}")
    rows = (
        AccountBalance.objects.filter(
            account__program=program,
            account__code__startswith=prefix,
            account__code__endswith=suffix,
        )
        .values("account__code", "account__kind")
        .annotate(
            pd=Coalesce(Sum("posted_debits"), 0),
            pc=Coalesce(Sum("posted_credits"), 0),
            qd=Coalesce(Sum("pending_debits"), 0),
            qc=Coalesce(Sum("pending_credits"), 0),
        )
    )
    found = []
    for r in rows:
        code = r["account__code"]
        beneficiary = code[len(prefix) : len(code) - len(suffix)]
        if r["account__kind"] in Account.DEBIT_NORMAL:
            available = r["pd"] - r["pc"] - r["qc"]
        else:
            available = r["pc"] - r["pd"] - r["qd"]
        found.append((beneficiary, int(available)))
    return sorted(found)
