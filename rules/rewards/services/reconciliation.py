"""Reward and payout reconciliation checks (SPEC §8), registered with the framework in
`ledger.services.reconciliation`.

Each check is one query that returns only the discrepant rows: the state a reward *should*
have is derived from its ledger transactions in SQL (a CASE over EXISTS subqueries) and
compared with the stored status, so a run stays a scan per table however many rewards exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat

from config.platform.models import Program
from ledger.accounts import PAYOUTS_CLEARING, user_rewards_code, user_rewards_code_sql
from ledger.models import Posting, Transaction
from ledger.services.reconciliation import Finding, register_check
from rules.rewards.models import PayoutBatch, PayoutCoverage, PayoutItem, Reward

Kind = Transaction.Kind


def _in_program(qs: QuerySet, program: Program | None, field: str = "program") -> QuerySet:
    return qs if program is None else qs.filter(**{field: program})


def _user_account(outer_field: str) -> Concat:
    return user_rewards_code_sql(OuterRef(outer_field))


def _finding(object_type: str, object_id: Any, message: str, expected: Any, actual: Any):
    return {
        "object_type": object_type,
        "object_id": str(object_id),
        "message": message,
        "expected": expected,
        "actual": actual,
    }


@register_check("reward_states")
def check_reward_states(program: Program | None) -> list[Finding]:
    """Every reward's status matches its ledger transactions: pending ↔ an unresolved pending
    transaction; confirmed ↔ posted and not reversed; reversed ↔ voided or reversed; paid ↔
    posted and covered by an executed payout; clawed_back ↔ paid and a clawback transfer."""
    resolution = Transaction.objects.filter(resolves=OuterRef("transaction_id"))
    covered_any = PayoutCoverage.objects.filter(
        reward=OuterRef("pk"),
        item__transaction__isnull=False,
        item__batch__status=PayoutBatch.Status.EXECUTED,
    )
    # A failed (returned) item no longer pays its rewards: they are confirmed again.
    covered = covered_any.exclude(item__status=PayoutItem.Status.FAILED)
    rewards = _in_program(Reward.objects.all(), program).annotate(
        resolution_kind=Subquery(resolution.values("kind")[:1]),
        post_reversed=Exists(
            Transaction.objects.filter(reverses__resolves=OuterRef("transaction_id"))
        ),
        covered=Exists(covered),
        covered_any=Exists(covered_any),
        booked=Exists(
            Posting.objects.filter(
                transaction_id=OuterRef("transaction_id"),
                kind=Kind.PENDING,
                direction="credit",
                amount=OuterRef("amount"),
                account__code=_user_account("beneficiary"),
            )
        ),
    )
    ledger_state = Case(
        When(transaction__isnull=True, then=Value("unbooked")),
        When(~Q(transaction__kind=Kind.PENDING), then=Value("not a pending booking")),
        When(resolution_kind__isnull=True, then=Value(Reward.Status.PENDING)),
        When(resolution_kind=Kind.VOID, then=Value(Reward.Status.REVERSED)),
        When(post_reversed=True, then=Value(Reward.Status.REVERSED)),
        When(
            covered_any=True,
            clawback_transaction__isnull=False,
            then=Value(Reward.Status.CLAWED_BACK),
        ),
        When(covered=True, then=Value(Reward.Status.PAID)),
        When(clawback_transaction__isnull=False, then=Value("clawed back but never paid")),
        default=Value(Reward.Status.CONFIRMED),
        output_field=CharField(),
    )
    rows = (
        rewards.annotate(ledger_state=ledger_state)
        .filter(~Q(status=F("ledger_state")) | Q(booked=False))
        .values("pk", "status", "ledger_state", "booked", "amount", "beneficiary")
        .order_by("pk")
    )
    findings = []
    for r in rows:
        if r["status"] != r["ledger_state"]:
            findings.append(
                _finding(
                    "reward",
                    r["pk"],
                    f"reward is {r['status']} but its ledger transactions say {r['ledger_state']}",
                    r["ledger_state"],
                    r["status"],
                )
            )
        if not r["booked"]:
            findings.append(
                _finding(
                    "reward",
                    r["pk"],
                    f"the reward's pending transaction does not credit {r['amount']} to "
                    f"{user_rewards_code(r['beneficiary'])}",
                    r["amount"],
                    None,
                )
            )
    return findings


@register_check("clawback_transfers")
def check_clawback_transfers(program: Program | None) -> list[Finding]:
    """Every clawback is a posted, unreversed transfer of the reward's amount out of the
    beneficiary's rewards account."""
    rows = (
        _in_program(Reward.objects.filter(clawback_transaction__isnull=False), program)
        .annotate(
            debit_ok=Exists(
                Posting.objects.filter(
                    transaction_id=OuterRef("clawback_transaction_id"),
                    kind=Kind.POSTED,
                    direction="debit",
                    amount=OuterRef("amount"),
                    account__code=_user_account("beneficiary"),
                )
            ),
            reversed=Exists(
                Transaction.objects.filter(reverses=OuterRef("clawback_transaction_id"))
            ),
        )
        .filter(Q(debit_ok=False) | Q(reversed=True))
        .values("pk", "amount", "beneficiary", "reversed", "clawback_transaction_id")
    )
    return [
        _finding(
            "reward",
            r["pk"],
            f"clawback transaction {r['clawback_transaction_id']} "
            + (
                "was reversed"
                if r["reversed"]
                else f"does not debit {r['amount']} from {user_rewards_code(r['beneficiary'])}"
            ),
            r["amount"],
            None,
        )
        for r in rows
    ]


@register_check("payout_transfers")
def check_payout_transfers(program: Program | None) -> list[Finding]:
    """Every item of an executed payout has exactly its transfer: one posted, unreversed
    transaction debiting the amount from user:{beneficiary}:rewards and crediting it to
    program:payouts_clearing. Items of other batches have none, and no payout transfer exists
    without its item."""
    items = _in_program(PayoutItem.objects.all(), program, "batch__program").annotate(
        debit_ok=Exists(
            Posting.objects.filter(
                transaction_id=OuterRef("transaction_id"),
                direction="debit",
                amount=OuterRef("amount"),
                account__code=_user_account("beneficiary"),
            )
        ),
        credit_ok=Exists(
            Posting.objects.filter(
                transaction_id=OuterRef("transaction_id"),
                direction="credit",
                amount=OuterRef("amount"),
                account__code=PAYOUTS_CLEARING,
            )
        ),
        postings=Coalesce(
            Subquery(
                Posting.objects.filter(transaction_id=OuterRef("transaction_id"))
                .values("transaction_id")
                .annotate(n=Count("pk"))
                .values("n")[:1],
                output_field=IntegerField(),
            ),
            0,
        ),
        reversed=Exists(Transaction.objects.filter(reverses=OuterRef("transaction_id"))),
    )
    executed = Q(batch__status=PayoutBatch.Status.EXECUTED)
    bad = items.filter(
        (
            executed
            & (
                Q(transaction__isnull=True)
                | ~Q(transaction__kind=Kind.POSTED)
                | Q(debit_ok=False)
                | Q(credit_ok=False)
                | ~Q(postings=2)
                | Q(reversed=True)
            )
        )
        | (~executed & Q(transaction__isnull=False))
    ).values(
        "pk", "batch_id", "batch__status", "amount", "beneficiary", "transaction_id", "reversed"
    )
    findings = []
    for r in bad.order_by("pk"):
        if r["batch__status"] != PayoutBatch.Status.EXECUTED:
            message = f"batch {r['batch_id']} is {r['batch__status']} but the item has a transfer"
        elif r["transaction_id"] is None:
            message = f"batch {r['batch_id']} is executed but the item has no transfer"
        elif r["reversed"]:
            message = f"the item's transfer {r['transaction_id']} was reversed"
        else:
            message = (
                f"transfer {r['transaction_id']} does not move exactly {r['amount']} from "
                f"{user_rewards_code(r['beneficiary'])} to {PAYOUTS_CLEARING}"
            )
        findings.append(_finding("payout_item", r["pk"], message, r["amount"], r["transaction_id"]))
    orphans = _in_program(
        Transaction.objects.filter(reference__startswith="payout:", kind=Kind.POSTED), program
    ).filter(payout_item__isnull=True, returned_payout_item__isnull=True)
    findings += [
        _finding(
            "transaction",
            pk,
            f"payout transfer ({ref}) belongs to no payout item",
            None,
            ref,
        )
        for pk, ref in orphans.values_list("pk", "reference").order_by("pk")
    ]
    return findings


@register_check("payout_items")
def check_payout_items(program: Program | None) -> list[Finding]:
    """Every payout item's status agrees with its batch and its transfers (SPEC §13): pending
    only in a batch not executed; sent, paid or failed only in an executed one; a failed item
    has exactly its return, one posted, unreversed transfer of the amount from
    program:payouts_clearing back to user:{beneficiary}:rewards, and no other item has one. (The
    rewards a failed item paid are confirmed again: reward_states checks them.)"""
    Item = PayoutItem.Status
    items = _in_program(PayoutItem.objects.all(), program, "batch__program").annotate(
        back_debit=Exists(
            Posting.objects.filter(
                transaction_id=OuterRef("return_transaction_id"),
                kind=Kind.POSTED,
                direction="debit",
                amount=OuterRef("amount"),
                account__code=PAYOUTS_CLEARING,
            )
        ),
        back_credit=Exists(
            Posting.objects.filter(
                transaction_id=OuterRef("return_transaction_id"),
                kind=Kind.POSTED,
                direction="credit",
                amount=OuterRef("amount"),
                account__code=_user_account("beneficiary"),
            )
        ),
        back_postings=Coalesce(
            Subquery(
                Posting.objects.filter(transaction_id=OuterRef("return_transaction_id"))
                .values("transaction_id")
                .annotate(n=Count("pk"))
                .values("n")[:1],
                output_field=IntegerField(),
            ),
            0,
        ),
        back_reversed=Exists(
            Transaction.objects.filter(reverses=OuterRef("return_transaction_id"))
        ),
    )
    executed = Q(batch__status=PayoutBatch.Status.EXECUTED)
    failed = Q(status=Item.FAILED)
    bad = items.filter(
        (executed & Q(status=Item.PENDING))
        | (~executed & ~Q(status=Item.PENDING))
        | (failed & Q(return_transaction__isnull=True))
        | (
            failed
            & Q(return_transaction__isnull=False)
            & (
                Q(back_debit=False)
                | Q(back_credit=False)
                | ~Q(back_postings=2)
                | Q(back_reversed=True)
            )
        )
        | (~failed & Q(return_transaction__isnull=False))
    ).values(
        "pk",
        "batch_id",
        "batch__status",
        "status",
        "amount",
        "beneficiary",
        "return_transaction_id",
        "back_reversed",
    )
    findings = []
    for r in bad.order_by("pk"):
        executed_batch = r["batch__status"] == PayoutBatch.Status.EXECUTED
        if executed_batch and r["status"] == Item.PENDING:
            message = f"batch {r['batch_id']} is executed but the item is still pending"
            expected, actual = "sent, paid or failed", r["status"]
        elif not executed_batch and r["status"] != Item.PENDING:
            message = f"batch {r['batch_id']} is {r['batch__status']} but the item is {r['status']}"
            expected, actual = Item.PENDING, r["status"]
        elif r["status"] != Item.FAILED:
            message = f"the item is {r['status']} but has a return transfer"
            expected, actual = None, str(r["return_transaction_id"])
        elif r["return_transaction_id"] is None:
            message = "the item failed but its money was never returned"
            expected, actual = r["amount"], None
        elif r["back_reversed"]:
            message = f"the item's return transfer {r['return_transaction_id']} was reversed"
            expected, actual = r["amount"], str(r["return_transaction_id"])
        else:
            message = (
                f"return transfer {r['return_transaction_id']} does not move exactly "
                f"{r['amount']} from {PAYOUTS_CLEARING} to {user_rewards_code(r['beneficiary'])}"
            )
            expected, actual = r["amount"], str(r["return_transaction_id"])
        findings.append(_finding("payout_item", r["pk"], message, expected, actual))
    return findings
