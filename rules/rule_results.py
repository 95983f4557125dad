"""What one rule did (issue 15, "schedules and results"): matches and rewards per day, read
for GET P/rules/{id}/results and the rule's admin page.

- matches: the program's events of the rule's triggers, by occurred_at, whose stored
  ``results`` hold an entry ``{"rule": <id>, "matched": true}`` (every version of the rule).
  PostgreSQL asks the jsonb containment ``results @> '[{"rule": id, "matched": true}]'``;
  SQLite looks through ``json_each(results)``: the same question, one query on each.
- rewards: RewardLink (which reward an event's rule action created) joined to the Reward for
  its status and amount, by the event's occurred_at. Totals count every reward created,
  whatever became of it; ``by_status`` says how many are pending, confirmed, paid, reversed
  or clawed back.

Days are UTC dates; ``to`` is inclusive."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connections, router
from django.db.models import BooleanField, Count, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate

from config.platform.exceptions import ValidationFailed
from rules.models import Event, RewardLink, Rule, RuleVersion

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _out_of_range() -> ValidationFailed:
    return ValidationFailed(
        "The dates must leave room for the range inside years 1-9999.",
        errors=[{"field": "from", "message": "out of range"}],
    )


def results_window(start: date | None, end: date | None, *, today: date) -> tuple[date, date]:
    """The inclusive date range asked for: by default the last 30 days up to today (UTC)."""
    try:
        end = end or (start + timedelta(days=DEFAULT_DAYS - 1) if start else today)
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
        # The query's upper bound is the day after `to`.
        end + timedelta(days=1)
    except OverflowError:
        raise _out_of_range() from None
    if start > end:
        raise ValidationFailed(
            "'from' must not be after 'to'.", errors=[{"field": "from", "message": "after 'to'"}]
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"At most {MAX_DAYS} days at once.",
            errors=[{"field": "from", "message": f"the range is over {MAX_DAYS} days"}],
        )
    return start, end


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _matched_events(rule: Rule, low: datetime, high: datetime) -> QuerySet[Event]:
    triggers = set(
        RuleVersion.objects.filter(rule=rule).values_list("definition__trigger", flat=True)
    )
    triggers.discard(None)
    events = Event.objects.filter(
        program_id=rule.program_id,
        type__in=sorted(str(t) for t in triggers),
        occurred_at__gte=low,
        occurred_at__lt=high,
    )
    if connections[router.db_for_read(Event)].vendor == "postgresql":
        return events.filter(results__contains=[{"rule": rule.pk, "matched": True}])
    table = Event._meta.db_table
    hit = RawSQL(
        f'EXISTS (SELECT 1 FROM json_each("{table}"."results") j '
        "WHERE json_extract(j.value, '$.rule') = %s "
        "AND json_extract(j.value, '$.matched') = 1)",
        [rule.pk],
        output_field=BooleanField(),
    )
    return events.alias(hit=hit).filter(hit=True)


def rule_results(*, rule: Rule, start: date, end: date) -> dict[str, Any]:
    """{"currency", "from", "to", "totals": {"matches", "rewards": {"count", "amount",
    "by_status": {status: {"count", "amount"}}}}, "series": [{"date", "matches",
    "rewards_count", "rewards_amount"}]} with a row for every day in [start, end]."""
    low, high = _bounds(start, end)
    day = TruncDate("occurred_at", tzinfo=UTC)
    matches_by_day = dict(
        _matched_events(rule, low, high)
        .annotate(day=day)
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
        .order_by()
    )
    links = RewardLink.objects.filter(rule=rule, occurred_at__gte=low, occurred_at__lt=high)
    by_status: dict[str, dict[str, int]] = {}
    for status, count, amount in (
        links.values("reward__status")
        .annotate(n=Count("id"), amount=Sum("reward__amount"))
        .values_list("reward__status", "n", "amount")
        .order_by()
    ):
        by_status[status] = {"count": count, "amount": int(amount or 0)}
    rewards_by_day = {
        row[0]: (row[1], int(row[2] or 0))
        for row in links.annotate(day=day)
        .values("day")
        .annotate(n=Count("id"), amount=Sum("reward__amount"))
        .values_list("day", "n", "amount")
        .order_by()
    }
    series = []
    current = start
    while current <= end:
        count, amount = rewards_by_day.get(current, (0, 0))
        series.append(
            {
                "date": current.isoformat(),
                "matches": matches_by_day.get(current, 0),
                "rewards_count": count,
                "rewards_amount": amount,
            }
        )
        current += timedelta(days=1)
    return {
        "rule": rule.pk,
        "currency": rule.program.currency,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "totals": {
            "matches": sum(matches_by_day.values()),
            "rewards": {
                "count": sum(v["count"] for v in by_status.values()),
                "amount": sum(v["amount"] for v in by_status.values()),
                "by_status": by_status,
            },
        },
        "series": series,
    }
