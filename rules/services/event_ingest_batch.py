"""Events in batches (SPEC §14): ingesting many in one request (`POST P/events/batch`).

Ingesting (`events_ingest_batch`): each event is answered exactly as `POST P/events` answers it
(same validation, idempotency by id, attribute merge, attribution), and one event's refusal
never undoes another. On PostgreSQL the common events (a known user, no click id or coupon)
are stored a run at a time, in a constant number of statements whatever the run's size
(rules.services.events.events_store_bulk_pg); the others go through event_ingest one by one,
each committed on its own, as do all events on other databases. Their hand-offs are collected
(rules.services.handoff.event_handoff_batched) and handed off together, as one batch task on a
broker or batched processing in this process.

Storing order: events get their ids in the order of the items, as one by one would: a run of
bulk events is written before the next event that goes one by one. Per user, nothing is
reordered at all: a user with any event that must go one by one has all of its events go so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import connections, router

from config.platform.exceptions import DomainError
from config.platform.models import Program
from rules.models import Event, Participant
from rules.services.events import (
    event_ingest,
    event_prepare,
    event_replay,
    events_store_bulk_pg,
)
from rules.services.handoff import event_handoff_batched
from rules.services.participants import RESERVED_ATTRIBUTES

MAX_EVENTS = 1000  # per request


@dataclass
class IngestResult:
    event: Event | None
    created: bool
    error: DomainError | None = None


def events_ingest_batch(
    *, program: Program, items: Sequence[dict[str, Any] | DomainError], actor: str
) -> list[IngestResult]:
    """Store each event (validated fields of POST P/events, or the error that answers it) as
    event_ingest does, in order; hand the new ones off together. Then, when they were
    processed in this process, read them back as stored."""
    db = router.db_for_write(Event)
    with event_handoff_batched() as handed:
        if connections[db].vendor == "postgresql":
            results = _ingest_pg(program=program, items=items, actor=actor, db=db)
        else:
            results = [_one(program, item, actor) for item in items]
    if handed and not _broker():
        # Processed in this process: show the stored state, as POST P/events does.
        fresh = Event.objects.select_related("participant").in_bulk(handed)
        for result in results:
            if result.event is not None and result.event.pk in fresh:
                result.event = fresh[result.event.pk]
    return results


def _one(program: Program, item: dict[str, Any] | DomainError, actor: str) -> IngestResult:
    """One event through event_ingest, committed on its own (the portable path)."""
    if isinstance(item, DomainError):
        return IngestResult(None, False, item)
    try:
        event, created = event_ingest(
            program=program,
            event_id=item["id"],
            type=item["type"],
            user=item["user"],
            occurred_at=item["occurred_at"],
            attributes=item["attributes"],
            data=item["data"],
            click_id=item["click_id"],
            coupon=item["coupon"],
            actor=actor,
        )
    except DomainError as exc:
        return IngestResult(None, False, exc)
    return IngestResult(event, created)


def _ingest_pg(
    *, program: Program, items: Sequence[dict[str, Any] | DomainError], actor: str, db: str
) -> list[IngestResult]:
    """Classify the items (answered at once, in bulk, or one by one), then store them in item
    order: a run of bulk items at a time, each other item as it comes."""
    results: list[IngestResult | None] = [None] * len(items)
    valid = {i: item for i, item in enumerate(items) if not isinstance(item, DomainError)}
    bulk: dict[int, Event] = {}  # item index -> its unsaved event
    for i, item in enumerate(items):
        if isinstance(item, DomainError):
            results[i] = IngestResult(None, False, item)
            continue
        try:
            fields = event_prepare(
                program=program,
                event_id=item["id"],
                type=item["type"],
                user=item["user"],
                occurred_at=item["occurred_at"],
                attributes=item["attributes"] or {},
                data=item["data"] or {},
                click_id=item["click_id"],
                coupon=item["coupon"],
            )
        except DomainError as exc:  # what event_ingest raises before reading anything
            results[i] = IngestResult(None, False, exc)
            continue
        if _bulk_kind(item):
            bulk[i] = Event(**fields)
    # What one by one would answer differently from a bulk write: an id sent twice (the
    # second is a replay of the first), a user another event creates or attributes (all of a
    # user's events go the same way, in order).
    sent = Counter(item["id"] for item in valid.values())
    single_users = {
        item["user"]
        for i, item in valid.items()
        if results[i] is None and (i not in bulk or sent[item["id"]] > 1)
    }
    bulk = {i: e for i, e in bulk.items() if valid[i]["user"] not in single_users}
    if bulk:
        stored = {
            e.event_id: e
            for e in Event.objects.using(db)
            .filter(program=program, event_id__in=[e.event_id for e in bulk.values()])
            .select_related("participant")
        }
        for i, event in list(bulk.items()):
            if event.event_id in stored:  # a replay writes nothing (and merges nothing)
                results[i] = _replayed(stored[event.event_id], event.body_hash)
                del bulk[i]
    participants: dict[str, Participant] = {}
    if bulk:
        users = {valid[i]["user"] for i in bulk}
        participants = {
            p.external_id: p
            for p in Participant.objects.using(db).filter(program=program, external_id__in=users)
        }
        bulk = {i: e for i, e in bulk.items() if valid[i]["user"] in participants}
    run: list[int] = []

    def store_run() -> None:
        if run and not events_store_bulk_pg(
            program=program,
            events=[(bulk[i], valid[i]["user"]) for i in run],
            participants=participants,
            actor=actor,
            db=db,
        ):
            # Rolled back (an id stored meanwhile, or the statement refused): one by one,
            # which answers each item as POST P/events would.
            for i in run:
                results[i] = _one(program, valid[i], actor)
            return
        for i in run:
            results[i] = IngestResult(bulk[i], True)

    for i, item in enumerate(items):
        if i in bulk:
            run.append(i)
        elif results[i] is None:
            store_run()
            run.clear()
            results[i] = _one(program, item, actor)
    store_run()
    assert all(r is not None for r in results)
    return cast(list[IngestResult], results)


def _bulk_kind(item: dict[str, Any]) -> bool:
    """An event the bulk write can store as event_ingest would: no attribution (which locks
    the program's referral graph and may create a referral), attributes that participant
    merging accepts."""
    attributes = item["attributes"] or {}
    return (
        not item["click_id"]
        and not item["coupon"]
        and isinstance(attributes, dict)
        and not (RESERVED_ATTRIBUTES & attributes.keys())
    )


def _replayed(stored: Event, body_hash: str) -> IngestResult:
    try:
        return IngestResult(*event_replay(stored, body_hash))
    except DomainError as exc:
        return IngestResult(None, False, exc)


def _broker() -> bool:
    return bool(settings.CELERY_BROKER_URL)
