"""Daily click roll-ups and the raw clicks' retention (docs/OPERATIONS.md, "Clicks").

A day's ClickDaily rows are recomputed from its raw clicks in one transaction (delete, then
insert the aggregate): a rerun gives the same rows, two runs cannot double count, and readers
see the old rows or the new ones. Clicks are written at "now", so only today and yesterday (a
click stamped 23:59:59 may commit after midnight) change; the periodic job recomputes those two.
Raw clicks are deleted a whole UTC day at a time, after that day is rolled up once more, so a
roll-up never counts half a day.

The same transaction rewrites the day's program-wide rows (ProgramClickDaily: the sums of its
ClickDaily rows per program), so the two roll-ups always agree."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from rules.links.models import Click, ClickDaily, ProgramClickDaily


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def clicks_rollup_day(day: date) -> int:
    """Recompute the day's roll-up rows from its raw clicks; returns how many rows it has."""
    start, end = _day_bounds(day)
    groups = (
        Click.objects.filter(at__gte=start, at__lt=end)
        .values("program_id", "participant_id", "link_id")
        .annotate(
            clicks=Count("id", filter=Q(is_bot=False)),
            unique_clicks=Count("visitor_hash", distinct=True, filter=Q(is_bot=False)),
            bot_clicks=Count("id", filter=Q(is_bot=True)),
        )
        .order_by()
    )
    with transaction.atomic():
        rows = [ClickDaily(day=day, **group) for group in groups]
        ClickDaily.objects.filter(day=day).delete()
        ClickDaily.objects.bulk_create(rows, batch_size=1000)
        totals: dict[int, ProgramClickDaily] = {}
        for row in rows:
            total = totals.setdefault(
                row.program_id, ProgramClickDaily(program_id=row.program_id, day=day)
            )
            total.clicks += row.clicks
            total.unique_clicks += row.unique_clicks
            total.bot_clicks += row.bot_clicks
        ProgramClickDaily.objects.filter(day=day).delete()
        ProgramClickDaily.objects.bulk_create(totals.values(), batch_size=1000)
    return len(rows)


def clicks_rollup_recent(*, now: datetime | None = None) -> int:
    """Today's and yesterday's roll-ups (UTC), the periodic job."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return clicks_rollup_day(today - timedelta(days=1)) + clicks_rollup_day(today)


def clicks_purge(*, now: datetime | None = None, retention_days: int | None = None) -> int:
    """Delete raw clicks of the whole UTC days older than the retention, each day rolled up
    again and deleted in one transaction (a crash leaves a day whole, never half counted);
    returns how many clicks were deleted. Days without raw clicks are skipped, so their
    roll-ups stay as they were."""
    days = settings.CLICK_RETENTION_DAYS if retention_days is None else retention_days
    today = (now or timezone.now()).astimezone(UTC).date()
    cutoff = datetime.combine(today - timedelta(days=days), time.min, tzinfo=UTC)
    deleted = 0
    while True:
        oldest = Click.objects.filter(at__lt=cutoff).aggregate(first=Min("at"))["first"]
        if oldest is None:
            return deleted
        day = oldest.astimezone(UTC).date()
        start, end = _day_bounds(day)
        with transaction.atomic():
            clicks_rollup_day(day)
            deleted += Click.objects.filter(at__gte=start, at__lt=end).delete()[0]
