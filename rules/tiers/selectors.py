"""Reads of partner tiers: a program's tiers, the figures of its partners over a window, the
tier those figures earn, and a partner's progress (the portal and the API read it)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, DecimalField, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from config.platform.models import Program
from rules.models import Event, Participant
from rules.tiers.criteria import MINIMUMS, criteria_errors, criteria_met, window_days
from rules.tiers.models import Tier, TierChange

# Events whose amount is revenue, and the one whose amount takes it back (rules.catalog).
REVENUE_TYPES = ("purchase", "subscription_started", "subscription_renewed")
REFUND_TYPE = "refund"
# Events that move a referrer's figures beyond "active" (event processing recomputes on them).
TIER_EVENT_TYPES = frozenset({*REVENUE_TYPES, REFUND_TYPE})
STATS = tuple(MINIMUMS.values())
_REFERRER = "participant__referral_received__referrer_id"

Stats = dict[str, int]


def tier_list(*, program: Program | int) -> list[Tier]:
    """The program's tiers, lowest rank first."""
    return list(Tier.objects.filter(program=program).order_by("rank"))


def tier_changes(*, participant: Participant, limit: int = 20) -> QuerySet[TierChange]:
    return TierChange.objects.filter(participant=participant).order_by("-at", "-id")[:limit]


def _amount(value: Any) -> int | None:
    """An event's amount in minor units, or None when it is not one (a sender's data is
    free-form: strings, fractions, negatives, NaN and booleans count for nothing)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    return None


def referrer_stats(
    *,
    program: Program,
    days: int,
    now: datetime,
    referrer_ids: Iterable[int] | None = None,
    include_event_pks: Collection[int] = (),
) -> dict[int, Stats]:
    """Each referrer's figures over the window (now - days, now]: net referred revenue,
    conversions and active referrals (rules.tiers.models). Referrers without any are absent.
    ``include_event_pks``: events being processed (the one at hand, and those a batch has
    processed before it in its transaction) count though not yet marked processed."""
    counted = Q(status=Event.Status.PROCESSED)
    if include_event_pks:
        counted |= Q(pk__in=list(include_event_pks))
    events = Event.objects.filter(
        counted,
        program=program,
        occurred_at__gt=now - timedelta(days=days),
        occurred_at__lte=now,
        **{f"{_REFERRER}__isnull": False},
    ).order_by()  # no ordering: it would join the GROUP BY below
    if referrer_ids is not None:
        events = events.filter(**{f"{_REFERRER}__in": list(referrer_ids)})
    stats: dict[int, Stats] = defaultdict(lambda: dict.fromkeys(STATS, 0))
    for referrer, active in (
        events.values(_REFERRER)
        .annotate(n=Count("participant_id", distinct=True))
        .values_list(_REFERRER, "n")
    ):
        stats[referrer]["active_referrals"] = active
    money = events.filter(type__in=(*REVENUE_TYPES, REFUND_TYPE))
    if connections[money.db].vendor == "postgresql":
        _money_sums_postgresql(money, program.currency, stats)
    else:
        _money_sums_portable(money, program.currency, stats)
    return dict(stats)


# An amount the portable path counts (_amount): a JSON number, whole, not negative.
_PG_AMOUNT = (
    "CASE WHEN jsonb_typeof({t}.data -> 'amount') = 'number'"
    " AND ({t}.data ->> 'amount')::numeric >= 0"
    " AND ({t}.data ->> 'amount')::numeric = trunc(({t}.data ->> 'amount')::numeric)"
    " AND (jsonb_typeof({t}.data -> 'currency') IS NULL"
    " OR jsonb_typeof({t}.data -> 'currency') = 'null'"
    " OR upper({t}.data ->> 'currency') = upper(%s))"
    " THEN ({t}.data ->> 'amount')::numeric END"
)


def _money_sums_postgresql(money: QuerySet[Event], currency: str, stats: dict[int, Stats]) -> None:
    """The portable path's sums in one grouped statement (a partner with a hundred thousand
    referred purchases is one row, not a hundred thousand). tests/tiers/test_services.py
    checks that both paths give the same figures on the same hostile data."""
    table = connections[money.db].ops.quote_name(Event._meta.db_table)
    amount = RawSQL(_PG_AMOUNT.format(t=table), [currency], output_field=DecimalField())
    rows = (
        money.values(_REFERRER)
        .annotate(
            n=Count("pk", filter=~Q(type=REFUND_TYPE)),
            revenue=Sum(amount, filter=~Q(type=REFUND_TYPE)),
            refunds=Sum(amount, filter=Q(type=REFUND_TYPE)),
        )
        .values_list(_REFERRER, "n", "revenue", "refunds")
    )
    for referrer, n, revenue, refunds in rows:
        figures = stats[referrer]
        figures["conversions"] = n
        figures["referred_revenue"] = max(0, int(revenue or 0) - int(refunds or 0))


def _money_sums_portable(money: QuerySet[Event], currency: str, stats: dict[int, Stats]) -> None:
    rows = money.values_list(_REFERRER, "type", "data__amount", "data__currency")
    refunds: dict[int, int] = defaultdict(int)
    for referrer, type_, raw_amount, raw_currency in rows.iterator(chunk_size=5000):
        if type_ != REFUND_TYPE:
            stats[referrer]["conversions"] += 1
        amount = _amount(raw_amount)
        if amount is None:
            continue
        if raw_currency is not None and str(raw_currency).upper() != currency.upper():
            continue  # another currency cannot be added to the program's
        if type_ == REFUND_TYPE:
            refunds[referrer] += amount
        else:
            stats[referrer]["referred_revenue"] += amount
    for referrer, amount in refunds.items():
        figures = stats[referrer]
        figures["referred_revenue"] = max(0, figures["referred_revenue"] - amount)


def usable_tiers(tiers: Iterable[Tier]) -> list[Tier]:
    """Tiers whose criteria are valid: one stored past the checks (a shell, a data fix) is
    never awarded rather than failing every event of the program."""
    return [t for t in tiers if not criteria_errors(t.criteria)]


def stats_by_window(
    *,
    program: Program,
    tiers: Iterable[Tier],
    now: datetime,
    referrer_ids: Iterable[int] | None = None,
    include_event_pks: Collection[int] = (),
) -> dict[int, dict[int, Stats]]:
    """{window days: {referrer id: stats}} for every window the tiers use."""
    ids = None if referrer_ids is None else list(referrer_ids)
    return {
        days: referrer_stats(
            program=program,
            days=days,
            now=now,
            referrer_ids=ids,
            include_event_pks=include_event_pks,
        )
        for days in sorted({window_days(t.criteria) for t in tiers})
    }


def empty_stats() -> Stats:
    return dict.fromkeys(STATS, 0)


def tier_earned(
    tiers: Iterable[Tier], stats: dict[int, dict[int, Stats]], participant_id: int
) -> Tier | None:
    """The highest-ranked tier whose every criterion the participant meets, or None."""
    best: Tier | None = None
    for tier in tiers:
        figures = stats[window_days(tier.criteria)].get(participant_id) or empty_stats()
        if criteria_met(tier.criteria, figures) and (best is None or tier.rank > best.rank):
            best = tier
    return best


@dataclass(frozen=True)
class TierProgress:
    """Where a partner stands: the current tier, the next one up and how far each of its
    criteria is met (the portal's card, the API)."""

    current: Tier | None
    next: Tier | None
    # For the next tier (or the current one at the top): [{"criterion", "stat", "required",
    # "actual", "met", "percent"}].
    criteria: list[dict[str, Any]]
    window_days: int | None
    tiers: list[Tier]


def tier_progress(*, participant: Participant, now: datetime | None = None) -> TierProgress | None:
    """None when the program has no tiers."""
    tiers = usable_tiers(tier_list(program=participant.program_id))
    if not tiers:
        return None
    now = now or timezone.now()
    by_key = {t.key: t for t in tiers}
    current = by_key.get(participant.tier)
    higher = [t for t in tiers if current is None or t.rank > current.rank]
    target = higher[0] if higher else current
    rows: list[dict[str, Any]] = []
    days = None
    if target is not None:
        days = window_days(target.criteria)
        figures = (
            referrer_stats(
                program=participant.program, days=days, now=now, referrer_ids=[participant.pk]
            ).get(participant.pk)
            or empty_stats()
        )
        for key, stat in MINIMUMS.items():
            if key not in target.criteria:
                continue
            required, actual = target.criteria[key], figures[stat]
            percent = 100 if required <= 0 else min(100, actual * 100 // required)
            rows.append(
                {
                    "criterion": key,
                    "stat": stat,
                    "required": required,
                    "actual": actual,
                    "met": actual >= required,
                    "percent": percent,
                }
            )
    return TierProgress(
        current=current,
        next=higher[0] if higher else None,
        criteria=rows,
        window_days=days,
        tiers=tiers,
    )
