"""Numbers for the per-program dashboard on the admin index (rendered by Chart.js). Amounts
stay in minor units, as everywhere in the ledger; `exponent` tells the page how to show them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from config.platform.currencies import currency_exponent
from config.platform.models import Program
from rules.rewards.models import Reward
from rules.selectors import top_referrers

DAYS = 30
TOP = 10


def dashboard_data(program: Program, *, now=None) -> dict[str, Any]:
    now = now or timezone.now()
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
        "program": program.slug,
        "currency": program.currency,
        "exponent": currency_exponent(program.currency),
        "per_day": {
            "labels": [d.isoformat() for d in days],
            "count": [per_day.get(d, {}).get("count", 0) for d in days],
            "amount": [per_day.get(d, {}).get("amount", 0) or 0 for d in days],
        },
        "totals": {
            s: {"amount": totals[f"{s}_amount"] or 0, "count": totals[f"{s}_count"]}
            for s in ("pending", "confirmed", "paid")
        },
        # Participants who referred someone, by how many, with what they earned.
        "top_referrers": top_referrers(program=program, limit=TOP),
    }
