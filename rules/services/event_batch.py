"""Events in batches (SPEC §14): processing many per claim (ingesting many in one request is
rules.services.event_ingest_batch).

Processing (`events_process_batch`), what a worker does with a batch of event ids (or the next
due events):

1. **Claim** them all in one statement (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so
   two workers given overlapping batches each take a disjoint part; committed on its own, so a
   worker that dies has spent the attempt, as event_claim does for one);
2. **Work** in one transaction: the claimed events, their programs and participants are read
   and locked in one query; once per batch (`_BatchContext`), the active rules per (program,
   type), each program's rules settings and whether it has tiers are read, the rules with
   limits are locked (one statement), the rewards the events' action keys already have are
   read (one query per program), ids are drawn for the rewards the actions could make, and
   the facts of every event whose program has no tiers are read (one statement: its
   participant, referrer and referrer's referrer), into the batch's memo
   (rules.actions.rewarding.BatchMemo), which also counts each limit's usage once per (rule,
   beneficiary, period) and then in memory. Then each event, in (occurred_at, id) order so
   that a user's events apply in the order they happened. On PostgreSQL a new reward is not
   written when its action decides it: it is kept in the memo (with its drawn id, its link and
   its place in the limits' counts) and the batch's rewards are booked together, by one
   statement per program (rules.rewards.services.reward_batch: the rows reward_create writes,
   and the links), before anything reads them from the database (a refund, a re-read of the
   limits) and at the end. The statuses are written in one UPDATE at the end (and before a
   refund, which reads the status of the event it refunds). Tier recomputes count the events
   the batch processed before, whose status is not written yet;
3. **Failures**: on PostgreSQL the events first run without a savepoint each. Should one fail,
   the whole try is rolled back and the batch runs again with a savepoint per event: a failing
   event rolls back only its own work (its deferred rewards are dropped, the others booked,
   and the memo's counts read again), and the others commit. An event's actions share its
   savepoint; should one be refused (a DomainError), the event is rolled back and run again
   with a savepoint per action, booking each reward at once, as alone. Should the deferred
   rewards fail to book together (the batch would overdraw a no_overdraft account, say), the
   try is rolled back and the batch runs again booking each reward as it comes. SQLite runs
   with savepoints and no deferring from the start. The failed events are recorded afterwards
   one by one (`_record_failure`: retry with backoff, or failed after MAX_ATTEMPTS), as for a
   single event.

Every action keeps its deterministic key (event, rule version, action), so a batch that dies
midway and is retried pays nothing twice. A batch holds the balance rows its events locked
until it commits, so two batches of one program run one after the other (an advisory lock per
program, `_serialise_batches`) rather than deadlock on the program's hot accounts; should a
batch still deadlock with single-event processing, PostgreSQL aborts the statement and the
batch's try (or, with savepoints, that one event) is rolled back and run again or retried.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config.platform import rowsql
from config.platform.db import prepared_cursor
from config.platform.models import Program
from rules.actions.rewarding import (
    BatchMemo,
    _has_limits,
    batch_memo,
    memo_reward_ids_reserve,
    memo_rewards_flush,
    memo_rewards_read,
    memo_rules_lock,
    memo_usage_read,
    rule_limits,
)
from rules.actions.run import ActionRefusedInBatch, action_key
from rules.exceptions import EventNotReady
from rules.models import Event, Participant
from rules.selectors import active_rule_versions, event_facts, rules_config_get, uplines
from rules.services.processing import (
    REFUND_EVENT,
    _jsonable,
    _record_failure,
    event_mark_processed,
    refund_apply,
    rules_evaluate_and_act,
)
from rules.tiers.models import Tier

logger = logging.getLogger(__name__)

BATCH_SIZE = 100  # per claim: a worker's batch
Status = Event.Status


# --- claim --------------------------------------------------------------------------------


@functools.cache
def _claim_sql(by_id: bool) -> str:
    table = Event._meta.db_table
    which = (
        "id = ANY(%s)"
        if by_id
        else "(next_attempt_at IS NULL OR next_attempt_at <= %s) ORDER BY created_at, id LIMIT %s"
    )
    if by_id:
        which += " ORDER BY id"
    return (
        f"UPDATE {table} SET status = '{Status.PROCESSING.value}', attempts = attempts + 1,"
        f" claimed_at = %s WHERE id IN (SELECT id FROM {table}"
        f" WHERE status = '{Status.RECEIVED.value}' AND {which} FOR UPDATE SKIP LOCKED)"
        " RETURNING id, attempts"
    )


def events_claim_batch(
    *, event_pks: Sequence[int] | None = None, limit: int = BATCH_SIZE, now: datetime | None = None
) -> dict[int, int]:
    """Take received events for processing: these ids, or the next `limit` due ones. Returns
    {event pk: attempt number} for those taken (not those done, failed, or another worker's)."""
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        params: list[Any] = [now, list(event_pks)] if event_pks is not None else [now, now, limit]
        with prepared_cursor() as cursor:
            cursor.execute(_claim_sql(event_pks is not None), params)
            return dict(cursor.fetchall())
    with transaction.atomic():
        qs = Event.objects.filter(status=Status.RECEIVED)
        if event_pks is not None:
            pks = list(qs.filter(pk__in=event_pks).values_list("pk", flat=True))
        else:
            due = qs.exclude(next_attempt_at__gt=now).order_by("created_at", "id")
            pks = list(due.values_list("pk", flat=True)[:limit])
        Event.objects.filter(pk__in=pks, status=Status.RECEIVED).update(
            status=Status.PROCESSING,
            attempts=F("attempts") + 1,
            claimed_at=now,
        )
        return dict(Event.objects.filter(pk__in=pks).values_list("pk", "attempts"))


# --- work ---------------------------------------------------------------------------------


@functools.cache
def _locked_query(db: str) -> tuple[str, list[rowsql.Columns]]:
    parts = [
        rowsql.columns(Event, "e", db),
        rowsql.columns(Program, "pr", db),
        rowsql.columns(Participant, "p", db),
    ]
    sql = (
        f"SELECT {', '.join(c for part in parts for c in part.sql)}"
        f" FROM {Event._meta.db_table} e"
        f" JOIN {Program._meta.db_table} pr ON pr.id = e.program_id"
        f" JOIN {Participant._meta.db_table} p ON p.id = e.participant_id"
        " WHERE e.id = ANY(%s) ORDER BY e.id FOR UPDATE OF e"
    )
    return sql, parts


def _events_locked(pks: list[int]) -> list[Event]:
    """The events under their row locks, with programs and participants, in one query, in the
    order they apply: by occurred_at, then id."""
    if connection.vendor != "postgresql":
        events = list(
            Event.objects.select_for_update(of=("self",))
            .select_related("program", "participant")
            .filter(pk__in=pks)
            .order_by("id")
        )
    else:
        sql, parts = _locked_query(connection.alias)
        with prepared_cursor() as cursor:
            cursor.execute(sql, [pks])
            rows = cursor.fetchall()
        events = []
        programs: dict[int, Program] = {}
        for row in rows:
            event, program, participant = rowsql.split(row, parts, connection.alias)
            assert isinstance(event, Event) and isinstance(participant, Participant)
            program = programs.setdefault(cast(Program, program).pk, cast(Program, program))
            event.program = program
            participant.program = program
            event.participant = participant
            events.append(event)
    return sorted(events, key=lambda e: (e.occurred_at, e.pk))


# The first half of the advisory lock that serialises batches per program (the second half
# is the program's id): "RLEB".
_BATCH_LOCK = 0x524C4542


def _serialise_batches(program_ids: set[int]) -> None:
    """One batch at a time per program (PostgreSQL; a transaction-level advisory lock, so it
    needs no session state and works through a transaction pooler). A batch holds the balance
    rows of every account its events paid until it commits; two batches of one program touch
    the same hot accounts (a referrer paid by many events) in different orders and would
    deadlock, losing an event's work to the deadlock detector each time. Serialised, they do
    not, and a batch is short. SQLite has one writer at a time anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for program_id in sorted(program_ids):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_BATCH_LOCK, program_id])


@dataclass
class BatchOutcome:
    processed: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0


def events_process_batch(
    *, event_pks: Sequence[int] | None = None, limit: int = BATCH_SIZE
) -> BatchOutcome:
    """Process these events (or the next `limit` due ones) as one batch; see the module's
    docstring. Safe to call any number of times, from any number of workers."""
    claimed = events_claim_batch(event_pks=event_pks, limit=limit)
    gone = len(set(event_pks) - claimed.keys()) if event_pks is not None else 0
    if not claimed:
        return BatchOutcome(skipped=gone)
    # PostgreSQL: first without a savepoint per event and with the rewards booked together;
    # should an event fail, again with a savepoint each; should the rewards' booking fail,
    # again booking each as it comes. Each try is one transaction: a failed one left nothing.
    postgres = connection.vendor == "postgresql"
    defer, savepoints = postgres, not postgres
    while True:
        outcome = BatchOutcome(skipped=gone)
        try:
            failures = _work(claimed, outcome, defer=defer, savepoints=savepoints)
            break
        except _EventFailed as exc:
            logger.info("An event failed in a batch (%s); again, a savepoint per event", exc)
            savepoints = True
        except DeferredBookingFailed as exc:
            logger.warning("A batch's rewards could not be booked together (%s); again", exc)
            defer, savepoints = False, True
    for pk, attempt, error in failures:
        try:
            status = _record_failure(event_pk=pk, attempt=attempt, exc=error).status
        except Exception:
            logger.exception("Could not record the failure of event %s", pk)
            continue  # left processing: the sweeper hands it back after STUCK_AFTER
        setattr(outcome, status, getattr(outcome, status) + 1)
    return outcome


def _work(
    claimed: dict[int, int], outcome: BatchOutcome, *, defer: bool, savepoints: bool
) -> list[tuple[int, int, BaseException]]:
    """Step 2 of the module's docstring, in one transaction; returns the failed events.
    `defer`: rewards are written together (BatchMemo.deferred) before the statuses.
    `savepoints`: each event has one (else an event's failure is _EventFailed: the caller
    rolls everything back and tries again with them)."""
    failures: list[tuple[int, int, BaseException]] = []
    try:
        with transaction.atomic(), batch_memo() as memo:
            if defer:
                memo.deferred = []
            events = _events_locked(sorted(claimed))
            _serialise_batches({e.program_id for e in events})
            mine = [
                e for e in events if e.status == Status.PROCESSING and e.attempts == claimed[e.pk]
            ]
            outcome.skipped += len(events) - len(mine)  # handed back, taken by another worker
            context = _BatchContext.read(mine, memo)
            done: list[tuple[Event, list[dict[str, Any]], dict[str, Any] | None]] = []
            finished: list[int] = []  # processed in this transaction (tiers count them)
            for event in mine:
                if event.type == REFUND_EVENT:
                    # It reads the rewards and the status of the events it refunds: store the
                    # batch's so far.
                    _flush(memo)
                    _mark_processed_many(done)
                    done = []
                mark = memo.mark()
                try:
                    try:
                        stored = _event_work(
                            event, context, memo, finished, fast=True, alone=savepoints
                        )
                    except ActionRefusedInBatch:
                        if not savepoints:
                            raise
                        memo.rollback_to(mark)
                        _flush(memo)
                        memo.forget_usage()  # rolled back: again, a savepoint per action
                        stored = _event_work(event, context, memo, finished, fast=False, alone=True)
                except DeferredBookingFailed:
                    raise
                except Exception as exc:
                    if not savepoints:
                        raise _EventFailed(f"event {event.pk}: {type(exc).__name__}") from exc
                    memo.rollback_to(mark)
                    _flush(memo)
                    memo.forget_usage()  # what it booked was rolled back
                    if isinstance(exc, EventNotReady):
                        logger.info("Event %s not ready: %s", event.pk, exc)
                    else:
                        logger.exception("Processing event %s failed in a batch", event.pk)
                    failures.append((event.pk, claimed[event.pk], exc))
                    continue
                if event.type == REFUND_EVENT:
                    # It reversed rewards: the limits count them no more. Its own deferred
                    # rewards are written first through _flush, so that a refused booking
                    # reruns the batch (DeferredBookingFailed) rather than failing it whole.
                    _flush(memo)
                    memo.forget_usage()
                done.append(stored)
                finished.append(event.pk)
                outcome.processed += 1
            _flush(memo)
            _mark_processed_many(done)
    except (DeferredBookingFailed, _EventFailed):
        raise
    except Exception as whole:
        # The batch's transaction itself failed (say, the connection dropped): nothing of it
        # committed; every claimed event is recorded as a failed attempt.
        logger.exception("A batch of %d events failed as a whole", len(claimed))
        outcome.processed = 0
        failures = [(pk, attempt, whole) for pk, attempt in claimed.items()]
    return failures


class DeferredBookingFailed(Exception):
    """Writing a batch's deferred rewards together failed; the batch's transaction is rolled
    back and the batch runs again without deferring."""


class _EventFailed(Exception):
    """An event failed in a batch run without a savepoint per event."""


def _flush(memo: BatchMemo) -> None:
    """Write the rewards the batch deferred (outside any event's savepoint: they belong to
    events done already)."""
    try:
        memo_rewards_flush(memo)
    except Exception as exc:
        raise DeferredBookingFailed(str(exc)) from exc


def _event_work(
    event: Event,
    context: _BatchContext,
    memo: BatchMemo,
    finished: list[int],
    *,
    fast: bool,
    alone: bool,
) -> tuple[Event, Any, Any]:
    """One event's work, under a savepoint of its own when `alone` (a failure undoes this event
    only); returns it with its results and refund, JSON-ready (checked here, in its
    savepoint), for `_mark_processed_many`. `fast`: its actions share the event's savepoint
    (BatchMemo.fast) and its rewards may be deferred; otherwise each action has a savepoint
    and books at once, as alone."""
    memo.fast = fast
    deferred = memo.deferred
    if not fast:
        memo.deferred = None  # (flushed by the caller)
    try:
        with transaction.atomic() if alone else nullcontext():
            results = rules_evaluate_and_act(
                event,
                active=context.rules[(event.program_id, event.type)],
                config=context.configs[event.program_id],
                has_tiers=context.tiers[event.program_id],
                facts=context.facts.get(event.pk),
                processed_before=finished,
            )
            refund = refund_apply(event) if event.type == REFUND_EVENT else None
            return event, _jsonable(results), _jsonable(refund)
    finally:
        memo.fast = False
        memo.deferred = deferred


@dataclass
class _BatchContext:
    """What the batch's events share, read once per batch: the active rules per (program,
    type), each program's rules settings, whether it has tiers, and the facts of events
    whose program has none (a tier change in the batch would change later events' facts).
    Reading it also locks the rules with limits, reads the rewards the events' action keys
    already have and draws ids for the rewards they may make (the memo)."""

    rules: dict[tuple[int, str], list[tuple[Any, Any]]]
    configs: dict[int, Any]
    tiers: dict[int, bool]
    facts: dict[int, tuple[dict[str, Any], dict[str, Participant]]]

    @classmethod
    def read(cls, events: list[Event], memo: BatchMemo) -> _BatchContext:
        rules: dict[tuple[int, str], list[tuple[Any, Any]]] = {}
        programs: dict[int, Program] = {}
        for event in events:
            key = (event.program_id, event.type)
            programs[event.program_id] = event.program
            if key not in rules:
                rules[key] = active_rule_versions(program=event.program, trigger=event.type)
        configs = {pk: rules_config_get(program=program) for pk, program in programs.items()}
        with_tiers = set(
            Tier.objects.filter(program_id__in=programs).values_list("program_id", flat=True)
        )
        limited = {
            rule.pk
            for active in rules.values()
            for rule, version in active
            if _has_limits(rule_limits(version.definition))
        }
        memo_rules_lock(memo, limited)
        keys: dict[int, list[str]] = {}
        for event in events:
            for _rule, version in rules[(event.program_id, event.type)]:
                for index in range(len(version.definition.get("actions") or ())):
                    keys.setdefault(event.program_id, []).append(
                        action_key(event_pk=event.pk, rule_version_pk=version.pk, index=index)
                    )
        for program_id, program_keys in keys.items():
            memo_rewards_read(memo, program_id, program_keys)
        # An id for each reward the batch's actions could make, in one statement (the ids it
        # does not use are a gap in the sequence, as a rolled-back insert leaves).
        memo_reward_ids_reserve(memo, sum(map(len, keys.values())))
        ruled = [
            e for e in events if rules[(e.program_id, e.type)] and e.program_id not in with_tiers
        ]
        chains = uplines([e.participant for e in ruled])
        facts = {e.pk: event_facts(e, chain=chains[e.participant_id]) for e in ruled}
        if memo.deferred is not None:
            # The limits' usage for everyone the events' facts name, in one statement.
            wanted = set()
            for event in ruled:
                roles = facts[event.pk][1]
                for rule, version in rules[(event.program_id, event.type)]:
                    per = rule_limits(version.definition)["per_beneficiary"]
                    if rule.pk in limited and (
                        per["max_rewards"] is not None or per["max_amount"] is not None
                    ):
                        for person in roles.values():
                            at = event.occurred_at
                            wanted.add((rule.pk, person.external_id, per["period"], at))
            memo_usage_read(memo, wanted)
        return cls(rules, configs, {pk: pk in with_tiers for pk in programs}, facts)


@functools.cache
def _mark_many_sql() -> str:
    table = Event._meta.db_table
    return (
        f"UPDATE {table} AS e SET status = '{Status.PROCESSED.value}', results = v.results,"
        " refund = v.refund, error = '', processed_at = %s, next_attempt_at = NULL"
        " FROM unnest(%s::bigint[], %s::jsonb[], %s::jsonb[]) AS v(id, results, refund)"
        " WHERE e.id = v.id"
    )


def _mark_processed_many(
    done: list[tuple[Event, list[dict[str, Any]], dict[str, Any] | None]],
) -> None:
    """Mark these events processed with their (JSON-ready) results: one statement on
    PostgreSQL."""
    if not done:
        return
    if connection.vendor != "postgresql":
        for event, results, refund in done:
            event_mark_processed(event=event, results=results, refund=refund)
        return
    now = timezone.now()
    ids = [event.pk for event, _, _ in done]
    texts = [json.dumps(r) for _, r, _ in done]
    refunds = [None if f is None else json.dumps(f) for _, _, f in done]
    with prepared_cursor() as cursor:
        cursor.execute(_mark_many_sql(), [now, ids, texts, refunds])
    for event, _, _ in done:
        event.status = Status.PROCESSED
        event.processed_at = now
