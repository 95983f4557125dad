"""Rows for the analytics tests and bench/analytics.py, written straight to the tables (the
analytics read them; how they got there is the other modules' business)."""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import F

from config.platform.models import Program
from rules.links.models import ClickDaily, ProgramClickDaily
from rules.models import Event, Participant, Referral, RewardLink, Rule, RuleVersion
from rules.rewards.models import Reward


def participants(program: Program, n: int, prefix: str = "p") -> list[Participant]:
    return Participant.objects.bulk_create(
        Participant(
            program=program, external_id=f"{prefix}{i}", referral_code=f"{program.slug}{prefix}{i}"
        )
        for i in range(n)
    )


def clicks(program: Program, partner: Participant, day: date, n: int, unique: int) -> ClickDaily:
    """A partner's roll-up row for the day, added to the program's row as the roll-up job does
    (rules/links/services/rollup.py)."""
    total, _ = ProgramClickDaily.objects.get_or_create(program=program, day=day)
    ProgramClickDaily.objects.filter(pk=total.pk).update(
        clicks=F("clicks") + n, unique_clicks=F("unique_clicks") + unique
    )
    return ClickDaily.objects.create(
        program=program, participant=partner, day=day, clicks=n, unique_clicks=unique
    )


def referral(program: Program, referrer: Participant, referred: Participant, at: datetime):
    return Referral.objects.create(
        program=program, referrer=referrer, referred=referred, created_at=at
    )


def rule_version(program: Program) -> RuleVersion:
    rule = Rule.objects.create(program=program, name="r", trigger="purchase")
    return RuleVersion.objects.create(rule=rule, version=1, definition={}, created_by="test")


_events = iter(range(10**9))


def conversion(
    program: Program,
    version: RuleVersion,
    user: Participant,
    at: datetime,
    rewards: list[tuple[str, int, str, datetime]],
) -> Event:
    """An event at `at` of `user` and the rewards it produced: (beneficiary, amount, status,
    created_at) each."""
    event = Event.objects.create(
        program=program,
        event_id=f"e{next(_events)}",
        type="purchase",
        participant=user,
        occurred_at=at,
        body_hash="x",
        status="processed",
    )
    for i, (beneficiary, amount, status, created) in enumerate(rewards):
        reward = Reward.objects.create(
            program=program,
            beneficiary=beneficiary,
            amount=amount,
            currency=program.currency,
            reward_type="cash",
            status=status,
            created_at=created,
        )
        RewardLink.objects.create(
            program=program,
            event=event,
            rule=version.rule,
            rule_version=version,
            action_index=i,
            reward=reward,
            beneficiary=beneficiary,
            amount=amount,
            occurred_at=at,
        )
    return event
