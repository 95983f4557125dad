"""Booking a reward-paying action (credit_reward, percent_commission) under the rule's limits.

Per-rule limits (at most N rewards or M amount per beneficiary per period, a total budget) are
checked under a lock on the rule row, so concurrent events cannot both take the last unit of a
budget; a limit that stops an action is recorded in the result, never silent."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connections, router
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from config.platform import rowsql
from config.platform.currencies import MAX_AMOUNT
from config.platform.db import prepared_cursor
from config.platform.models import Program
from rules.models import RewardLink, Rule
from rules.rewards.models import Reward
from rules.rewards.services.rewards import reward_create

if TYPE_CHECKING:
    from rules.action_registry import ActionOutcome, ActionStep

# --- limits -------------------------------------------------------------------------------


def _period_start(period: str, at: datetime) -> datetime | None:
    """Calendar periods in UTC; None means no period (the rule's whole life)."""
    at = at.astimezone(UTC)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return None


def _period_end(period: str, start: datetime) -> datetime:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)  # month


def rule_limits(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition's optional `limits` (rules/schema.json) as {"per_beneficiary":
    {"max_rewards", "max_amount", "period"}, "budget": max amount or None}."""
    limits = definition.get("limits") or {}
    per = limits.get("per_beneficiary") or {}
    return {
        "per_beneficiary": {
            "max_rewards": per.get("max_rewards"),
            "max_amount": per.get("max_amount"),
            "period": per.get("period") or "all_time",
        },
        "budget": (limits.get("budget") or {}).get("max_amount"),
    }


def _limit_reason(
    *, rule: Rule, limits: dict[str, Any], beneficiary: str, amount: int, occurred_at: datetime
) -> str:
    """Why this reward would break a limit ("" if it fits). Reversed rewards do not count."""
    live = RewardLink.objects.filter(rule=rule).exclude(reward__status=Reward.Status.REVERSED)
    budget = limits["budget"]
    if budget is not None:
        used = live.aggregate(s=Coalesce(Sum("amount"), 0))["s"]
        if used + amount > budget:
            return f"budget: {used} of {budget} used, {amount} more would exceed it"
    per = limits["per_beneficiary"]
    if per["max_rewards"] is None and per["max_amount"] is None:
        return ""
    mine = live.filter(beneficiary=beneficiary)
    start = _period_start(per["period"], occurred_at)
    label = "in total"
    if start is not None:
        mine = mine.filter(
            occurred_at__gte=start, occurred_at__lt=_period_end(per["period"], start)
        )
        label = f"per {per['period']}"
    agg = mine.aggregate(n=Count("id"), s=Coalesce(Sum("amount"), 0))
    if per["max_rewards"] is not None and agg["n"] + 1 > per["max_rewards"]:
        return f"max_rewards: {beneficiary} already has {agg['n']} reward(s) {label}"
    if per["max_amount"] is not None and agg["s"] + amount > per["max_amount"]:
        return (
            f"max_amount: {beneficiary} already has {agg['s']} {label}, "
            f"{amount} more would exceed {per['max_amount']}"
        )
    return ""


def _has_limits(limits: dict[str, Any]) -> bool:
    per = limits["per_beneficiary"]
    return (
        limits["budget"] is not None
        or per["max_rewards"] is not None
        or (per["max_amount"] is not None)
    )


# --- booking ------------------------------------------------------------------------------


@functools.cache
def _reward_key_sql(db: str) -> str:
    quote = connections[db].ops.quote_name
    return (
        f"SELECT {quote('id')} FROM {quote(Reward._meta.db_table)}"
        f" WHERE {quote('program_id')} = %s AND {quote('source_key')} = %s"
    )


def _reward_with_key(*, program: Program, key: str) -> int | None:
    """The id of the program's reward with this source key (unique), if there is one. Plain
    SQL built once: compiling the ORM query cost more than running it, on every action."""
    db = router.db_for_read(Reward)
    with prepared_cursor(db) as cursor:
        cursor.execute(_reward_key_sql(db), [program.pk, key])
        row = cursor.fetchone()
    return None if row is None else row[0]


@functools.cache
def _link_insert_sql(db: str) -> tuple[list, str]:
    fields, column_list = rowsql.insert_columns(RewardLink, db)
    placeholders = ", ".join("%s" for _ in fields)
    table = connections[db].ops.quote_name(RewardLink._meta.db_table)
    return fields, f"INSERT INTO {table} ({column_list}) VALUES ({placeholders})"


def _link_insert(link: RewardLink) -> None:
    """`link.save(force_insert=True)` without compiling the INSERT on every action (the link's
    id is not needed)."""
    db = router.db_for_write(RewardLink)
    fields, sql = _link_insert_sql(db)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, rowsql.insert_params(link, fields, db))


def reward_book(step: ActionStep, outcome: ActionOutcome) -> None:
    """Book the planned reward once (its key finds an earlier attempt's), within the limits,
    and link it to the event and rule version. Call inside the action's savepoint."""
    program, event, rule, action = step.program, step.event, step.rule, step.action
    index, kind = step.index, action["type"]
    existing = _reward_with_key(program=program, key=step.key)
    if existing is not None:  # paid by an earlier attempt: record, pay nothing
        outcome.rewards.append(existing)
        return
    amount = action["amount"]
    if not amount or amount <= 0:
        outcome.skipped.append({"index": index, "type": kind, "reason": "amount is zero"})
        return
    if amount > MAX_AMOUNT:  # the plan skips these; never book one regardless
        outcome.skipped.append(
            {
                "index": index,
                "type": kind,
                "reason": f"amount is above the money limit {MAX_AMOUNT}",
            }
        )
        return
    beneficiary = action["beneficiary_id"]
    if _has_limits(step.limits):
        Rule.objects.select_for_update().filter(pk=rule.pk).first()
        reason = _limit_reason(
            rule=rule,
            limits=step.limits,
            beneficiary=beneficiary,
            amount=amount,
            occurred_at=event.occurred_at,
        )
        if reason:
            outcome.limited.append(
                {
                    "index": index,
                    "type": kind,
                    "beneficiary": beneficiary,
                    "amount": amount,
                    "reason": reason,
                }
            )
            return
    reward, created = reward_create(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=action.get("currency") or program.currency,
        reward_type=action.get("reward_type") or "cash",
        metadata=step.metadata,
        source_key=step.key,
        hold_reason=step.hold_reason,
        actor=step.actor,
    )
    link = {
        "program": program,
        "event": event,
        "rule": rule,
        "rule_version": step.rule_version,
        "action_index": index,
        "beneficiary": beneficiary,
        "amount": reward.amount,
        "occurred_at": event.occurred_at,
    }
    if created:  # a reward this transaction made has no link yet
        _link_insert(RewardLink(reward=reward, **link))
    else:  # created concurrently from the same key
        RewardLink.objects.get_or_create(reward=reward, defaults=link)
    outcome.rewards.append(reward.pk)
