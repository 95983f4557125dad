"""The money domain on the admin index (config.platform.admin.dashboard), registered at
start-up: the to-do cards (held rewards, payout batches waiting, the last reconciliation) and
the program's reward charts (rewards per day, totals by status; drawn by Chart.js). Amounts
stay in minor units, as everywhere in the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from config.platform.admin.dashboard import (
    attention_card_register,
    changelist_url,
    count_item,
    program_panel_register,
)
from config.platform.models import Program
from ledger.models import ReconciliationRun
from rules.rewards.models import HeldReward, PayoutBatch, Reward

DAYS = 30
# The nightly reconciliation should never be older than this; a little slack for a late run.
RECONCILIATION_STALE_AFTER = timedelta(hours=36)
VIEW_REWARDS = "ledger.view_reward"


def held_items(request: HttpRequest) -> list[dict[str, Any]]:
    url = changelist_url(request, HeldReward)
    if url is None:
        return []
    held = HeldReward.objects.count()
    return [
        count_item(
            "held",
            held,
            "held reward awaiting review",
            "held rewards awaiting review",
            url,
            level="warn",
        )
    ]


def payout_items(request: HttpRequest) -> list[dict[str, Any]]:
    url = changelist_url(request, PayoutBatch)
    if url is None:
        return []
    Status = PayoutBatch.Status
    counts = PayoutBatch.objects.aggregate(
        pending=Count("pk", filter=Q(status=Status.PENDING_APPROVAL)),
        approved=Count("pk", filter=Q(status=Status.APPROVED)),
    )
    return [
        count_item(
            "pending_approval",
            counts["pending"],
            "payout batch awaiting approval",
            "payout batches awaiting approval",
            f"{url}?status__exact={Status.PENDING_APPROVAL}",
            level="warn",
        ),
        count_item(
            "approved",
            counts["approved"],
            "approved batch awaiting execution",
            "approved batches awaiting execution",
            f"{url}?status__exact={Status.APPROVED}",
            level="warn",
        ),
    ]


def reconciliation_items(request: HttpRequest) -> list[dict[str, Any]]:
    url = changelist_url(request, ReconciliationRun)
    if url is None:
        return []
    run = (
        ReconciliationRun.objects.select_related("program").order_by("-finished_at", "-id").first()
    )
    if run is None:
        return [
            {
                "key": "reconciliation",
                "value": "Never run",
                "label": "reconciliation: prove the books balance",
                "url": url,
                "level": "warn",
            }
        ]
    clean = run.status == ReconciliationRun.Status.CLEAN
    n = len(run.findings)
    stale = timezone.now() - run.finished_at > RECONCILIATION_STALE_AFTER
    scope = run.program.slug if run.program else "all programs"
    return [
        {
            "key": "reconciliation",
            "value": "Clean" if clean else "Discrepancies",
            "label": (
                f"last reconciliation ({scope})"
                if clean
                else f"last reconciliation ({scope}): {n} finding{pluralize(n)}"
            ),
            "url": reverse("admin:ledger_reconciliationrun_change", args=[run.pk]),
            "when": run.finished_at,
            "stale": stale,
            "level": "alert" if not clean else ("warn" if stale else "ok"),
        }
    ]


def rewards_panel(program: Program) -> dict[str, Any]:
    """Rewards created per day over the last DAYS days, and totals by status."""
    now = timezone.now()
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rewards = Reward.objects.filter(program=program)
    per_day: dict[Any, Any] = {
        row["day"]: row
        for row in rewards.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("pk"), amount=Sum("amount"))
    }
    days = [(start + timedelta(days=i)).date() for i in range(DAYS)]
    totals = rewards.aggregate(
        **{
            f"{s}_{m}": agg("amount" if m == "amount" else "pk", filter=Q(status=s))
            for s in ("pending", "confirmed", "paid")
            for m, agg in (("amount", Sum), ("count", Count))
        }
    )
    return {
        "per_day": {
            "labels": [d.isoformat() for d in days],
            "count": [per_day.get(d, {}).get("count", 0) for d in days],
            "amount": [per_day.get(d, {}).get("amount", 0) or 0 for d in days],
        },
        "totals": {
            s: {"amount": totals[f"{s}_amount"] or 0, "count": totals[f"{s}_count"]}
            for s in ("pending", "confirmed", "paid")
        },
    }


def register() -> None:
    # Placed around the rules app's failed events (order 30).
    attention_card_register("rewards.held", held_items, order=10)
    attention_card_register("rewards.payouts", payout_items, order=20)
    attention_card_register("rewards.reconciliation", reconciliation_items, order=40)
    program_panel_register("rewards.rewards", rewards_panel, permission=VIEW_REWARDS)
