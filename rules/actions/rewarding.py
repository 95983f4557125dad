"""Booking a reward-paying action (credit_reward, percent_commission) under the rule's limits.

Per-rule limits (at most N rewards or M amount per beneficiary per period, a total budget) are
checked under a lock on the rule row, so concurrent events cannot both take the last unit of a
budget; a limit that stops an action is recorded in the result, never silent.

Batched processing (rules.services.event_batch) opens a `BatchMemo` for the batch's
transaction: the rules with limits are locked once for the whole batch (not once per action),
the reward keys the batch's events could use are read in one query, and the usage a limit
check reads is counted once per (rule, beneficiary, period) and then kept up to date in memory
as the batch books. The batch clears the counts whenever work is rolled back or rewards are
reversed (a failing event, a refused action, a refund), so they are read again. On PostgreSQL
the memo also defers the batch's new rewards (`BatchMemo.deferred`): an action validates its
reward as reward_create would, takes an id drawn for the batch, counts it in the limits and
keeps it with its link; `memo_rewards_flush` books them all in one statement per program, and
runs before the counts are read again, so the database always counts what the memo did."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connections, router
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.platform import rowsql
from config.platform.currencies import MAX_AMOUNT
from config.platform.db import prepared_cursor
from config.platform.models import Program
from rules.models import RewardLink, Rule
from rules.rewards.models import Reward
from rules.rewards.services.reward_batch import (
    SourcedReward,
    reward_ids_draw,
    rewards_create_sourced_many,
)
from rules.rewards.services.rewards import reward_create, reward_new_fields

if TYPE_CHECKING:
    from rules.action_registry import ActionOutcome, ActionStep

# --- a batch's memo -----------------------------------------------------------------------


@dataclass
class BatchMemo:
    """What a batch of events read once instead of once per action (see the module's
    docstring). Valid only inside the batch's transaction."""

    locked_rules: set[int] = field(default_factory=set)  # rule rows this transaction locked
    keys_read: set[tuple[int, str]] = field(default_factory=set)  # (program, key) looked up
    rewards: dict[tuple[int, str], int] = field(default_factory=dict)  # ... -> existing reward
    usage: dict[tuple[int, str, datetime | None], list[int]] = field(default_factory=dict)
    budget_used: dict[int, int] = field(default_factory=dict)
    # Actions run without a savepoint each (rules.actions.run): the batch has one per event,
    # and redoes an event with a savepoint per action should one of them be refused.
    fast: bool = False
    # Rewards decided but not yet written (PostgreSQL batches; None: book each at once). The
    # batch writes them together (`memo_rewards_flush`) before anything reads the ledger or
    # the limits' usage from the database again, and at its end.
    deferred: list[Deferred] | None = None
    reward_ids: list[int] = field(default_factory=list)  # drawn, unused; the next is last

    def forget_usage(self) -> None:
        """Work was rolled back or rewards reversed: read the limits' usage again (write the
        deferred rewards first, so that the database counts them)."""
        memo_rewards_flush(self)
        self.usage.clear()
        self.budget_used.clear()

    def mark(self) -> int:
        """Where the deferred rewards stand, for `rollback_to`."""
        return 0 if self.deferred is None else len(self.deferred)

    def rollback_to(self, mark: int) -> None:
        """The work since `mark` was rolled back: drop the rewards it deferred."""
        if self.deferred is None or len(self.deferred) <= mark:
            return
        for gone in self.deferred[mark:]:
            self.rewards.pop((gone.program.pk, gone.reward.source_key), None)
        del self.deferred[mark:]


@dataclass(slots=True)
class Deferred:
    """A reward an action decided in a batch, with its link, written by memo_rewards_flush."""

    program: Program
    reward: SourcedReward
    link: RewardLink


_memo: ContextVar[BatchMemo | None] = ContextVar("rules_batch_memo", default=None)


@contextmanager
def batch_memo() -> Iterator[BatchMemo]:
    memo = BatchMemo()
    token = _memo.set(memo)
    try:
        yield memo
    finally:
        _memo.reset(token)


def current_memo() -> BatchMemo | None:
    return _memo.get()


def memo_reward_ids_reserve(memo: BatchMemo, count: int) -> None:
    """Draw `count` reward ids for the rewards the batch may defer (one statement)."""
    if memo.deferred is not None and count > len(memo.reward_ids):
        memo.reward_ids[:0] = reversed(reward_ids_draw(count - len(memo.reward_ids)))


def memo_rewards_flush(memo: BatchMemo) -> None:
    """Write the deferred rewards: per program, one statement books them
    (rules.rewards.services.reward_batch) with their links. Raises what it raises (the batch
    then runs again without deferring: rules.services.event_batch)."""
    if not memo.deferred:
        return
    pending, memo.deferred[:] = list(memo.deferred), []
    by_program: dict[int, list[Deferred]] = {}
    for item in pending:
        by_program.setdefault(item.program.pk, []).append(item)
    for items in by_program.values():
        now = timezone.now()
        links = [
            {
                "event_id": i.link.event_id,
                "rule_id": i.link.rule_id,
                "rule_version_id": i.link.rule_version_id,
                "action_index": i.link.action_index,
                "reward_id": i.link.reward_id,
                "beneficiary": i.link.beneficiary,
                "amount": i.link.amount,
                "occurred_at": i.link.occurred_at.isoformat(),
            }
            for i in items
        ]
        rewards_create_sourced_many(
            items[0].program,
            [i.reward for i in items],
            now=now,
            ride=[("links", _LINKS_SQL)],
            ride_params=[items[0].program.pk, now, json.dumps(links)],
        )


# The deferred rewards' links, in the rewards' booking statement: one per reward it created.
_LINKS_SQL = (
    f"INSERT INTO {RewardLink._meta.db_table} (program_id, event_id, rule_id, rule_version_id,"
    " action_index, reward_id, beneficiary, amount, occurred_at, created_at)"
    " SELECT %s::bigint, l.event_id, l.rule_id, l.rule_version_id, l.action_index, l.reward_id,"
    " l.beneficiary, l.amount, l.occurred_at, %s::timestamptz FROM jsonb_to_recordset(%s::jsonb)"
    " AS l (event_id bigint, rule_id bigint, rule_version_id bigint, action_index int,"
    " reward_id bigint, beneficiary text, amount bigint, occurred_at timestamptz)"
    " JOIN created c ON c.id = l.reward_id ORDER BY c.n"
)


def memo_rules_lock(memo: BatchMemo, rule_pks: set[int]) -> None:
    """Lock these rules' rows for the rest of the transaction, in one statement (ascending
    ids), so reward_book need not lock them action by action."""
    wanted = sorted(rule_pks - memo.locked_rules)
    if not wanted:
        return
    list(Rule.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values_list("pk"))
    memo.locked_rules.update(wanted)


def memo_rewards_read(memo: BatchMemo, program_id: int, keys: list[str]) -> None:
    """Read which of these source keys already have a reward, in one query."""
    keys = [k for k in keys if (program_id, k) not in memo.keys_read]
    if not keys:
        return
    found = Reward.objects.filter(program_id=program_id, source_key__in=keys).values_list(
        "source_key", "pk"
    )
    for key, pk in found:
        memo.rewards[(program_id, str(key))] = pk
    memo.keys_read.update((program_id, k) for k in keys)


# --- limits -------------------------------------------------------------------------------


def memo_usage_read(memo: BatchMemo, wanted: set[tuple[int, str, str, datetime]]) -> None:
    """Read, in one statement (PostgreSQL), the limits' usage the batch's actions may check:
    for each (rule, beneficiary, period, an event's time), what `_limit_reason` would count
    (the beneficiary's live rewards of the rule in the period holding that time; the whole
    rule's life for period "total"). Keys read already are skipped."""
    keys: dict[tuple[int, str, datetime | None], datetime | None] = {}
    for rule_pk, beneficiary, period, at in wanted:
        start = _period_start(period, at)
        key = (rule_pk, beneficiary, start)
        if key not in memo.usage:
            keys[key] = None if start is None else _period_end(period, start)
    if not keys:
        return
    ordered = list(keys.items())
    with connections[router.db_for_read(RewardLink)].cursor() as cursor:
        cursor.execute(
            _USAGE_SQL,
            [
                [k[0] for k, _ in ordered],
                [k[1] for k, _ in ordered],
                [k[2] for k, _ in ordered],
                [end for _, end in ordered],
            ],
        )
        for i, n, total in cursor.fetchall():
            memo.usage[ordered[i - 1][0]] = [n, total]


_USAGE_SQL = (
    "SELECT q.i, count(l.id), COALESCE(sum(l.amount), 0) FROM unnest(%s::bigint[], %s::text[],"
    " %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS q (rule_id, beneficiary, s, e, i)"
    f" LEFT JOIN ({RewardLink._meta.db_table} l JOIN {Reward._meta.db_table} w"
    f" ON w.id = l.reward_id AND w.status <> '{Reward.Status.REVERSED.value}')"
    " ON l.rule_id = q.rule_id AND l.beneficiary = q.beneficiary"
    " AND (q.s IS NULL OR (l.occurred_at >= q.s AND l.occurred_at < q.e))"
    " GROUP BY q.i"
)


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
    """Why this reward would break a limit ("" if it fits). Reversed rewards do not count.
    In a batch (`memo`), each count is read once and then kept by `_limits_take`."""
    memo = _memo.get()

    def live() -> Any:  # built only when a count must be read (a batch reads each once)
        return RewardLink.objects.filter(rule=rule).exclude(reward__status=Reward.Status.REVERSED)

    budget = limits["budget"]
    if budget is not None:
        used = memo.budget_used.get(rule.pk) if memo is not None else None
        if used is None:
            used = live().aggregate(s=Coalesce(Sum("amount"), 0))["s"]
            if memo is not None:
                memo.budget_used[rule.pk] = used
        if used + amount > budget:
            return f"budget: {used} of {budget} used, {amount} more would exceed it"
    per = limits["per_beneficiary"]
    if per["max_rewards"] is None and per["max_amount"] is None:
        return ""
    start = _period_start(per["period"], occurred_at)
    label = "in total" if start is None else f"per {per['period']}"
    counted = memo.usage.get((rule.pk, beneficiary, start)) if memo is not None else None
    if counted is None:
        mine = live().filter(beneficiary=beneficiary)
        if start is not None:
            mine = mine.filter(
                occurred_at__gte=start, occurred_at__lt=_period_end(per["period"], start)
            )
        agg = mine.aggregate(n=Count("id"), s=Coalesce(Sum("amount"), 0))
        counted = [agg["n"], agg["s"]]
        if memo is not None:
            memo.usage[(rule.pk, beneficiary, start)] = counted
    n, total = counted
    if per["max_rewards"] is not None and n + 1 > per["max_rewards"]:
        return f"max_rewards: {beneficiary} already has {n} reward(s) {label}"
    if per["max_amount"] is not None and total + amount > per["max_amount"]:
        return (
            f"max_amount: {beneficiary} already has {total} {label}, "
            f"{amount} more would exceed {per['max_amount']}"
        )
    return ""


def _limits_take(
    *, rule: Rule, limits: dict[str, Any], beneficiary: str, amount: int, occurred_at: datetime
) -> None:
    """A batch booked this reward: count it in the memo's usage (read by `_limit_reason`)."""
    memo = _memo.get()
    if memo is None:
        return
    if rule.pk in memo.budget_used:
        memo.budget_used[rule.pk] += amount
    start = _period_start(limits["per_beneficiary"]["period"], occurred_at)
    counted = memo.usage.get((rule.pk, beneficiary, start))
    if counted is not None:
        counted[0] += 1
        counted[1] += amount


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
    memo = _memo.get()
    if memo is not None and (program.pk, step.key) in memo.keys_read:
        existing = memo.rewards.get((program.pk, step.key))
    else:
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
    limited = _has_limits(step.limits)
    if limited:
        if memo is None or rule.pk not in memo.locked_rules:
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
    if memo is not None and memo.deferred is not None:
        _defer(step, outcome, memo, amount=amount, limited=limited)
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
        if limited:
            _limits_take(
                rule=rule,
                limits=step.limits,
                beneficiary=beneficiary,
                amount=reward.amount,
                occurred_at=event.occurred_at,
            )
    else:  # created concurrently from the same key
        RewardLink.objects.get_or_create(reward=reward, defaults=link)
        if memo is not None:
            memo.forget_usage()
    outcome.rewards.append(reward.pk)


def _defer(
    step: ActionStep, outcome: ActionOutcome, memo: BatchMemo, *, amount: int, limited: bool
) -> None:
    """reward_book's booking in a batch that defers: validate as reward_create does (a
    refusal raises here, before anything is kept), take a drawn id, and keep the reward and
    its link for memo_rewards_flush; the limits count it at once."""
    program, event, action = step.program, step.event, step.action
    beneficiary = action["beneficiary_id"]
    currency = action.get("currency") or program.currency
    reward_type = action.get("reward_type") or "cash"
    hold_reason = reward_new_fields(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=currency,
        reward_type=reward_type,
        hold_reason=step.hold_reason,
    )
    if not memo.reward_ids:
        memo.reward_ids[:] = reversed(reward_ids_draw(32))
    pk = memo.reward_ids.pop()
    reward = SourcedReward(
        id=pk,
        beneficiary=beneficiary,
        amount=amount,
        currency=currency,
        reward_type=reward_type,
        metadata=step.metadata,
        source_key=step.key,
        hold_reason=hold_reason,
        actor=step.actor,
    )
    link = RewardLink(
        program=program,
        event=event,
        rule=step.rule,
        rule_version=step.rule_version,
        action_index=step.index,
        reward_id=pk,
        beneficiary=beneficiary,
        amount=amount,
        occurred_at=event.occurred_at,
    )
    assert memo.deferred is not None
    memo.deferred.append(Deferred(program, reward, link))
    memo.rewards[(program.pk, step.key)] = pk
    if limited:
        _limits_take(
            rule=step.rule,
            limits=step.limits,
            beneficiary=beneficiary,
            amount=amount,
            occurred_at=event.occurred_at,
        )
    outcome.rewards.append(pk)
