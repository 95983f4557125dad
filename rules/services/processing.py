"""Event processing: claim, evaluate the active rules, act, record, mark processed.

1. **Claim** (short transaction): ``received → processing`` with ``attempts + 1``. PostgreSQL
   takes the row with ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on
   each other; SQLite (one writer at a time anyway) uses a conditional UPDATE.
2. **Work** (one transaction, holding the event's row lock): build the facts, evaluate the
   active rules for the event's type together (by descending priority, skipping a version whose
   schedule excludes the event, suppressing the rest after a matched rule with
   ``stop_processing``, and recording every one of them with its outcome), run matched actions
   through the ledger with deterministic keys, recompute the referrers' tiers, apply a refund,
   store the results and mark the event ``processed``. A crash anywhere rolls all of it back;
   even if it did not, the keys make the next attempt pay nothing twice.
3. **Failure**: back to ``received`` with ``next_attempt_at`` (exponential backoff), or
   ``failed`` with the error after MAX_ATTEMPTS (`event_mark_failed`: audit entry and an
   ``event.failed`` webhook).

An event whose worker died stays ``processing``; `events_requeue_stuck` hands it back after
STUCK_AFTER (or, after MAX_ATTEMPTS lost workers, fails it through `event_mark_failed` too),
and also re-queues due retries and events whose hand-off never reached a broker.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.platform import rowsql
from config.platform.audit import audit_record
from config.platform.db import prepared_cursor
from config.platform.models import Program
from config.platform.webhooks.services import webhook_emit
from rules.actions.run import actions_run
from rules.engine import compile_ruleset
from rules.engine.plan import plan_actions
from rules.exceptions import EventNotReady
from rules.fraud import fraud_hold_reason
from rules.models import Event, Participant, RewardLink
from rules.rewards.models import Reward
from rules.rewards.services.rewards import reward_can_become, reward_reverse
from rules.selectors import active_rule_versions, event_facts, rules_config_get
from rules.tiers.services import tier_recompute_for_event

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STUCK_AFTER = timedelta(minutes=5)
# A freshly received event is normally handed off on commit; only older ones need the sweeper.
HANDOFF_GRACE = timedelta(minutes=1)
# An event handed to the broker waits this long for a worker before the sweeper hands it off
# again (a lost message); sooner would queue a second copy behind a mere backlog.
HANDOFF_LEASE = STUCK_AFTER
REFUND_EVENT = "refund"
# The webhook event type this app owns, registered at start-up (RulesConfig.ready()).
EVENT_FAILED = "event.failed"
ACTOR = "system:events"

Status = Event.Status


@dataclass(frozen=True)
class ProcessOutcome:
    status: str  # processed | retry | failed | skipped
    retry_in: float | None = None


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min, … capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


# --- claim --------------------------------------------------------------------------------


@functools.cache
def _claim_sql() -> str:
    """PostgreSQL: take the row with SKIP LOCKED, so concurrent workers never wait on each
    other, and claim it in the same statement."""
    table = Event._meta.db_table
    return (
        f"UPDATE {table} SET status = '{Status.PROCESSING.value}', attempts = attempts + 1,"
        f" claimed_at = %s WHERE id = (SELECT id FROM {table} WHERE id = %s"
        f" AND status = '{Status.RECEIVED.value}' FOR UPDATE SKIP LOCKED) RETURNING attempts"
    )


def event_claim(*, event_pk: int) -> int | None:
    """Take a received event for processing; returns the attempt number, or None when it is
    not there to take (done, failed, or another worker has it)."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One statement, atomic (and committed) on its own: a worker that dies after it has
        # spent an attempt, which is what makes MAX_ATTEMPTS stop a poison event.
        with prepared_cursor() as cursor:
            cursor.execute(_claim_sql(), [now, event_pk])
            row = cursor.fetchone()
        return None if row is None else row[0]
    with transaction.atomic():
        claimed = Event.objects.filter(pk=event_pk, status=Status.RECEIVED).update(
            status=Status.PROCESSING, attempts=F("attempts") + 1, claimed_at=now
        )
        if not claimed:
            return None
        return Event.objects.filter(pk=event_pk).values_list("attempts", flat=True).get()


# --- work ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _instant(text: str) -> datetime | None:
    """An RFC 3339 schedule bound as an aware datetime (validation checks the format; a bound
    that does not parse, in a version stored before it did, bounds nothing)."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo is not None else None


def schedule_skip(definition: dict[str, Any], occurred_at: datetime) -> dict[str, Any] | None:
    """Why a version's schedule excludes an event that occurred at `occurred_at`, or None when
    it applies: active from `active_from` (inclusive) until `active_until` (exclusive).
    Returns {"reason": "not_yet_active", "active_from"} or {"reason": "expired",
    "active_until"}."""
    start = definition.get("active_from")
    if start and isinstance(start, str):
        bound = _instant(start)
        if bound is not None and occurred_at < bound:
            return {"reason": "not_yet_active", "active_from": start}
    end = definition.get("active_until")
    if end and isinstance(end, str):
        bound = _instant(end)
        if bound is not None and occurred_at >= bound:
            return {"reason": "expired", "active_until": end}
    return None


def _not_evaluated(rule: Any, version: Any, outcome: str, **extra: Any) -> dict[str, Any]:
    """The entry of a rule that was not evaluated (suppressed or skipped): no trace, no
    effects; "matched" stays false for SPEC §6's readers."""
    return {
        "rule": rule.pk,
        "version": version.version,
        "matched": False,
        "outcome": outcome,
        **extra,
        "rewards": [],
        "credits": [],
        "skipped": [],
        "limited": [],
    }


def rules_evaluate_and_act(
    event: Event,
    *,
    active: list[tuple[Any, Any]] | None = None,
    config: Any = None,
    has_tiers: bool | None = None,
    facts: tuple[dict[str, Any], dict[str, Participant]] | None = None,
    processed_before: Collection[int] = (),
) -> list[dict[str, Any]]:
    """Evaluate the event's active rules and run the matched actions (no status change).

    Rules run in priority order. Every active rule of the trigger gets an entry with its
    "outcome": "skipped" (with a "reason") when its version's schedule excludes the event's
    occurred_at; "matched" or "not_matched", with its trace; "suppressed" (with
    "suppressed_by": the rule's id; no trace, no actions) after a matched rule with
    stop_processing. The trigger's rules are evaluated together, traces included, by one call
    of the compiled ruleset (rules.engine.compile_ruleset, cached; versions are immutable).
    For an event of a referred user, the tiers of their referrer and the referrer's referrer
    are recomputed (rules.tiers): any event of theirs can move the figures tiers count.
    `active`: the active rules for the event's type, when the caller has read them already (a
    batch); likewise `config`, the program's rules settings, `has_tiers` (False: the program
    has no tiers to recompute), `facts` (event_facts(event)) and `processed_before`: the events
    the batch processed before this one, which tiers count though their status is written at
    the batch's end."""
    program = event.program
    if active is None:
        active = active_rule_versions(program=program, trigger=event.type)
    if not active:
        if has_tiers is not False:  # (it finds the referrers itself, and skips a program without)
            tier_recompute_for_event(event=event, also=processed_before)
        return []
    facts_, roles = facts if facts is not None else event_facts(event)
    # Fraud signals compare a referrer with the referred: without a referrer there is nothing
    # to hold (fraud_hold_reason says ""), so the settings need not be read.
    hold_reason = (
        fraud_hold_reason(
            config=config if config is not None else rules_config_get(program=program),
            roles=roles,
        )
        if "referrer" in roles
        else ""
    )
    # Every rule in one call, each trace in the compact form events store (the evaluation is
    # pure: a rule a stop suppresses or a schedule skips is simply not recorded).
    evaluation, traces = compile_ruleset([v.definition for _, v in active]).evaluate_stored(facts_)
    matches = evaluation.matched
    results: list[dict[str, Any]] = []
    stopped_by: int | None = None
    for (rule, version), matched, trace in zip(active, matches, traces, strict=True):
        definition = version.definition
        if "active_from" in definition or "active_until" in definition:
            skip = schedule_skip(definition, event.occurred_at)
            if skip is not None:
                results.append(_not_evaluated(rule, version, "skipped", **skip))
                continue
        if stopped_by is not None:
            results.append(_not_evaluated(rule, version, "suppressed", suppressed_by=stopped_by))
            continue
        entry: dict[str, Any] = {
            "rule": rule.pk,
            "version": version.version,
            "matched": matched,
            "outcome": "matched" if matched else "not_matched",
            "rewards": [],
            "credits": [],
            "skipped": [],
            "limited": [],
            # The compact record (rules.engine.expand_trace rebuilds the per-leaf dicts when
            # the event is read): building those dicts cost more than evaluating the rules.
            "trace": trace,
        }
        if matched:
            planned = plan_actions(
                definition,
                facts_,
                currency=program.currency,
                direct_rate_bps=program.direct_rate_bps,
                override_rate_bps=program.override_rate_bps,
            )
            outcome = actions_run(
                program=program,
                event=event,
                rule=rule,
                rule_version=version,
                planned=planned,
                hold_reason=hold_reason,
            )
            entry.update(
                rewards=outcome.rewards,
                credits=outcome.credits,
                skipped=outcome.skipped,
                limited=outcome.limited,
            )
            if outcome.rewards and hold_reason:
                entry["held"] = hold_reason
            if definition.get("stop_processing"):
                stopped_by = rule.pk
        results.append(entry)
    if "referrer" in roles and has_tiers is not False:
        # Tiers are the referrer's and their referrer's: a user nobody referred moves none.
        tier_recompute_for_event(event=event, also=processed_before)
    return results


def refund_apply(event: Event) -> dict[str, Any]:
    """Reverse the unpaid rewards that the refunded event's rules created. Paid ones are left
    for the operator's clawback and listed as such."""
    # The catalog names the field `original_event`; `original_event_id` is accepted too.
    original_id = event.data.get("original_event_id") or event.data.get("original_event")
    out: dict[str, Any] = {
        "original_event": original_id,
        "reversed": [],
        "already_reversed": [],
        "left_for_clawback": [],
    }
    if not original_id and event.data.get("payment_event"):
        # A billing connector's refund (rules/billing): the connector moves the rewards of
        # data.payment_event by the integration's refund policy; its delivery log says what.
        out["original_event"] = event.data["payment_event"]
        out["note"] = "applied by the billing connector's refund policy (see its delivery log)"
        return out
    if not original_id:
        out["note"] = "data.original_event_id is missing: nothing to reverse"
        return out
    original = Event.objects.filter(program=event.program, event_id=str(original_id)).first()
    if original is None:
        out["note"] = "original event not found: nothing to reverse"
        return out
    if original.status in (Status.RECEIVED, Status.PROCESSING):
        # Reversing now would miss rewards the original is about to create.
        raise EventNotReady(f"original event {original_id} is not processed yet")
    reason = f"refund {event.event_id} of event {original_id}"
    links = RewardLink.objects.filter(event=original).select_related("reward").order_by("id")
    for link in links:
        reward = link.reward
        if reward.status == Reward.Status.REVERSED:
            out["already_reversed"].append(reward.pk)
        elif reward_can_become(reward.status, Reward.Status.REVERSED):
            reward_reverse(reward=reward, reason=reason, actor=f"event:{event.event_id}")
            out["reversed"].append(reward.pk)
        else:
            out["left_for_clawback"].append(reward.pk)
    return out


def event_mark_processed(
    *, event: Event, results: list[dict[str, Any]], refund: dict[str, Any] | None
) -> None:
    event.status = Status.PROCESSED
    event.results = _jsonable(results)
    event.refund = _jsonable(refund)
    event.error = ""
    event.processed_at = timezone.now()
    event.next_attempt_at = None
    fields = ["status", "results", "refund", "error", "processed_at", "next_attempt_at"]
    if connection.vendor != "postgresql":
        event.save(update_fields=fields)
        return
    # The UPDATE event.save(update_fields=...) sends, without compiling it each time.
    sql, prepared = _mark_sql(tuple(fields))
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*rowsql.insert_params(event, prepared, connection.alias), event.pk])


@functools.cache
def _mark_sql(names: tuple[str, ...]) -> tuple[str, list]:
    fields = [Event._meta.get_field(name) for name in names]
    assignments = ", ".join(f'"{f.column}" = %s' for f in fields)  # type: ignore[union-attr]
    return f"UPDATE {Event._meta.db_table} SET {assignments} WHERE id = %s", fields


def event_mark_failed(*, event: Event, error: str) -> None:
    """The one way an event becomes failed (final failure after MAX_ATTEMPTS, or abandoned by
    MAX_ATTEMPTS dead workers): status, audit entry and the ``event.failed`` webhook, in the
    caller's transaction, which holds the event's row lock."""
    event.status = Status.FAILED
    event.error = error
    event.next_attempt_at = None
    event.save(update_fields=["status", "error", "next_attempt_at"])
    audit_record(
        program=event.program,
        actor=ACTOR,
        action="event.failed",
        object_type="event",
        object_id=event.event_id,
        after={"attempts": event.attempts, "error": error},
    )
    webhook_emit(
        program=event.program,
        event_type=EVENT_FAILED,
        payload={
            "id": event.event_id,
            "type": event.type,
            "attempts": event.attempts,
            "error": error,
        },
    )


def _record_failure(*, event_pk: int, attempt: int, exc: BaseException) -> ProcessOutcome:
    error = f"{type(exc).__name__}: {exc}"[:4000]
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.select_for_update().select_related("program").get(pk=event_pk)
        if event.status != Status.PROCESSING or event.attempts != attempt:
            return ProcessOutcome("skipped")
        if event.attempts >= MAX_ATTEMPTS:
            event_mark_failed(event=event, error=error)
            return ProcessOutcome("failed")
        delay = backoff(event.attempts)
        event.error = error
        event.status = Status.RECEIVED
        event.next_attempt_at = now + delay
        event.save(update_fields=["status", "error", "next_attempt_at"])
    return ProcessOutcome("retry", retry_in=delay.total_seconds())


@functools.cache
def _event_locked_query(db: str) -> tuple[str, list[rowsql.Columns]]:
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
        " WHERE e.id = %s FOR UPDATE OF e"
    )
    return sql, parts


def _event_locked(event_pk: int) -> Event:
    """The event under its row lock, with its program and participant (call in a
    transaction). PostgreSQL: the ORM query's SQL, built once per process."""
    if connection.vendor != "postgresql":
        return (
            Event.objects.select_for_update(of=("self",))
            .select_related("program", "participant")
            .get(pk=event_pk)
        )
    sql, parts = _event_locked_query(connection.alias)
    with prepared_cursor() as cursor:
        cursor.execute(sql, [event_pk])
        row = cursor.fetchone()
    if row is None:
        raise Event.DoesNotExist(f"No event {event_pk}")
    event, program, participant = rowsql.split(row, parts, connection.alias)
    assert isinstance(event, Event) and isinstance(participant, Participant)
    event.program = cast(Program, program)
    participant.program = event.program
    event.participant = participant
    return event


def event_process(*, event_pk: int) -> ProcessOutcome:
    """Process one event if it is there to take. Safe to call any number of times, from any
    number of workers: it pays each action at most once."""
    attempt = event_claim(event_pk=event_pk)
    if attempt is None:
        return ProcessOutcome("skipped")
    try:
        with transaction.atomic():
            event = _event_locked(event_pk)
            if event.status != Status.PROCESSING or event.attempts != attempt:
                return ProcessOutcome("skipped")  # handed back and taken by another worker
            results = rules_evaluate_and_act(event)
            refund = refund_apply(event) if event.type == REFUND_EVENT else None
            event_mark_processed(event=event, results=results, refund=refund)
    except Exception as exc:
        if isinstance(exc, EventNotReady):
            logger.info("Event %s not ready: %s", event_pk, exc)
        else:
            logger.exception("Processing event %s failed (attempt %s)", event_pk, attempt)
        return _record_failure(event_pk=event_pk, attempt=attempt, exc=exc)
    return ProcessOutcome("processed")


# --- sweeping -----------------------------------------------------------------------------


def event_handoff_mark(*, event_pk: int, lost: bool = False) -> None:
    """Record a hand-off to the broker so the sweeper waits HANDOFF_LEASE before queueing the
    event again; ``lost=True`` (publishing failed) makes it due for the sweeper now. Only a
    received event is touched: a worker may already have taken it."""
    now = timezone.now()
    Event.objects.filter(pk=event_pk, status=Status.RECEIVED).update(
        next_attempt_at=now if lost else now + HANDOFF_LEASE
    )


def event_handoff_mark_many(*, event_pks: list[int]) -> None:
    """event_handoff_mark for these events at once (one statement): handed to the broker."""
    Event.objects.filter(pk__in=event_pks, status=Status.RECEIVED).update(
        next_attempt_at=timezone.now() + HANDOFF_LEASE
    )


def events_requeue_stuck(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Hand back events whose worker died (``processing`` for longer than STUCK_AFTER) and
    return the ids of events due for an attempt: retries whose time has come and events whose
    hand-off was lost (e.g. the broker was down when they arrived)."""
    now = now or timezone.now()
    with transaction.atomic():
        # A live worker holds its event's row lock, so SKIP LOCKED never takes its event away.
        stale = list(
            Event.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("program")
            .filter(status=Status.PROCESSING, claimed_at__lt=now - STUCK_AFTER)
            .order_by("id")[:limit]
        )
        requeue = []
        for event in stale:
            if event.attempts >= MAX_ATTEMPTS:
                # A worker that keeps dying on an event must not take it forever.
                event_mark_failed(
                    event=event, error=f"worker lost {event.attempts} times while processing"
                )
            else:
                requeue.append(event.pk)
        if requeue:
            Event.objects.filter(pk__in=requeue).update(status=Status.RECEIVED, next_attempt_at=now)
            logger.warning("Re-queued %d event(s) stuck in processing", len(requeue))
    due = Event.objects.filter(status=Status.RECEIVED).filter(
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, created_at__lt=now - HANDOFF_GRACE)
    )
    return list(due.order_by("created_at", "id").values_list("pk", flat=True)[:limit])
