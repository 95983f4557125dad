"""The program's funnel over time (SPEC section 11, `GET P/analytics`, and the console's
analytics page): clicks → referrals → conversions → rewards, per day, week or month.

A selector: it reads and writes nothing. Four grouped queries, each by UTC day, then bucketed
here into weeks (ISO, starting Monday) or months:

- clicks, unique_clicks: the daily roll-ups, never the raw clicks: program-wide the program's
  (ProgramClickDaily, one row a day), for a partner theirs (ClickDaily); bots apart.
  `unique_clicks` adds up each day's distinct visitors: a visitor who comes back on another day
  of a week or month counts once per day.
- referrals: referrals made (Referral.created_at).
- conversions: events that produced at least one reward (RewardLink, by the event's
  occurred_at).
- rewards: rewards created (Reward.created_at), count and amount (minor units) by their status
  now.

With a participant (a partner): their clicks, the referrals they made, the events that rewarded
them and the rewards they are the beneficiary of.

A "day" is a UTC day (programs have no time zone): `start`..`end` covers start 00:00 UTC to the
end of `end`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from config.db_router import replica_alias
from config.platform.models import Program
from rules.links.models import ClickDaily, ProgramClickDaily
from rules.models import Participant, Referral, RewardLink
from rules.rewards.models import Reward

INTERVALS = ("day", "week", "month")
# The longest range per interval, in days: about 2, 5 and 10 years.
MAX_DAYS = {"day": 731, "week": 1827, "month": 3653}
REWARD_STATUSES = tuple(Reward.Status.values)
STAGES = ("clicks", "referrals", "conversions", "rewards")


def bucket_start(day: date, interval: str) -> date:
    """The first day of the day's bucket: itself, its ISO week's Monday, or its month's 1st."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: date, interval: str) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


@dataclass
class Bucket:
    start: date
    end: date
    clicks: int = 0
    unique_clicks: int = 0
    referrals: int = 0
    conversions: int = 0
    rewards: dict[str, dict[str, int]] = field(
        default_factory=lambda: {s: {"count": 0, "amount": 0} for s in REWARD_STATUSES}
    )

    @property
    def rewards_count(self) -> int:
        return sum(r["count"] for r in self.rewards.values())

    @property
    def rewards_amount(self) -> int:
        return sum(r["amount"] for r in self.rewards.values())

    def add(self, other: Bucket) -> None:
        self.clicks += other.clicks
        self.unique_clicks += other.unique_clicks
        self.referrals += other.referrals
        self.conversions += other.conversions
        for status, r in other.rewards.items():
            self.rewards[status]["count"] += r["count"]
            self.rewards[status]["amount"] += r["amount"]


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


@dataclass
class Analytics:
    program: Program
    participant: Participant | None
    start: date
    end: date
    interval: str
    buckets: list[Bucket]
    totals: Bucket

    @property
    def currency(self) -> str:
        return self.program.currency

    @property
    def funnel(self) -> dict[str, float | None]:
        """Each stage over the one before it; null when the one before is zero. Rewards over
        conversions may pass 1 (an event can reward two people)."""
        t = self.totals
        return {
            "click_to_referral": _ratio(t.referrals, t.clicks),
            "referral_to_conversion": _ratio(t.conversions, t.referrals),
            "conversion_to_reward": _ratio(t.rewards_count, t.conversions),
        }


def _per_day(qs: Any, time_field: str, **values: Any) -> Any:
    """(UTC day, n) rows of `qs` counted per day of `time_field`."""
    return (
        qs.annotate(d=TruncDate(time_field, tzinfo=UTC))
        .values("d")
        .annotate(**values)
        .order_by()
        .values_list("d", "n")
    )


def analytics(
    *,
    program: Program,
    start: date,
    end: date,
    interval: str = "day",
    participant: Participant | None = None,
) -> Analytics:
    """The funnel from `start` to `end` (UTC days, both included) by `interval`. The caller
    checks the range (`end` not before `start`, at most MAX_DAYS[interval])."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    days: dict[date, Bucket] = defaultdict(lambda: Bucket(start, start))

    db = replica_alias()  # lag-tolerant (config/db_router.py)
    # Program-wide: one roll-up row a day; a partner's: their rows of the per-partner roll-up.
    clicks: Any = ProgramClickDaily.objects.using(db).filter(
        program=program, day__gte=start, day__lte=end
    )
    referrals = Referral.objects.using(db).filter(
        program=program, created_at__gte=since, created_at__lt=until
    )
    links = RewardLink.objects.using(db).filter(
        program=program, occurred_at__gte=since, occurred_at__lt=until
    )
    rewards = Reward.objects.using(db).filter(
        program=program, created_at__gte=since, created_at__lt=until
    )
    if participant is not None:
        clicks = ClickDaily.objects.using(db).filter(
            program=program, participant=participant, day__gte=start, day__lte=end
        )
        referrals = referrals.filter(referrer=participant)
        links = links.filter(beneficiary=participant.external_id)
        rewards = rewards.filter(beneficiary=participant.external_id)

    per_day = clicks.values("day").annotate(c=Sum("clicks"), u=Sum("unique_clicks"))
    for day, n, unique in per_day.order_by().values_list("day", "c", "u"):
        days[day].clicks += int(n or 0)
        days[day].unique_clicks += int(unique or 0)
    for day, n in _per_day(referrals, "created_at", n=Count("*")):
        days[day].referrals += n
    for day, n in _per_day(links, "occurred_at", n=Count("event_id", distinct=True)):
        days[day].conversions += n
    by_status = (
        rewards.annotate(d=TruncDate("created_at", tzinfo=UTC))
        .values("d", "status")
        .annotate(n=Count("*"), a=Sum("amount"))
        .order_by()
        .values_list("d", "status", "n", "a")
    )
    for day, status, n, amount in by_status:
        entry = days[day].rewards[status]
        entry["count"] += n
        entry["amount"] += int(amount or 0)

    buckets: list[Bucket] = []
    first = bucket_start(start, interval)
    while first <= end:
        following = _next_bucket(first, interval)
        buckets.append(Bucket(max(first, start), min(following - timedelta(days=1), end)))
        first = following
    index = {bucket_start(b.start, interval): b for b in buckets}
    totals = Bucket(start, end)
    for day, counts in days.items():
        index[bucket_start(day, interval)].add(counts)
        totals.add(counts)
    return Analytics(
        program=program,
        participant=participant,
        start=start,
        end=end,
        interval=interval,
        buckets=buckets,
        totals=totals,
    )
