"""A payout's statement as CSV: the payout, then each reward it paid."""

from __future__ import annotations

import io

from django.http import HttpResponse

from config.platform import csvsafe
from config.platform.admin.common import major_units
from rules.rewards.models import PayoutItem


def payout_csv(item: PayoutItem) -> HttpResponse:
    """The statement of one payout item (its coverages and their rewards prefetched)."""
    batch = item.batch
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["payout", "batch", "status", "date", "amount", "currency"])
    when = batch.executed_at or batch.created_at
    w.writerow(
        [
            item.pk,
            batch.pk,
            batch.status,
            when.date().isoformat(),
            major_units(item.amount, batch.currency),
            batch.currency,
        ]
    )
    w.writerow([])
    w.writerow(["reward", "date", "type", "amount", "currency"])
    for coverage in item.coverages.all():
        r = coverage.reward
        w.writerow(
            [
                r.pk,
                r.created_at.date().isoformat(),
                r.reward_type,
                major_units(r.amount, r.currency),
                r.currency,
            ]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="payout-{item.pk}-statement.csv"'
    return response
