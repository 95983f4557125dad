"""Event ingestion: a durable intent, stored with the attribute merge in one transaction.

The event is handed off for processing when its row is committed (rules.services.handoff); see
rules.services.processing for what happens then."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, cast

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.utils import timezone

from config.platform import rowsql
from config.platform.audit import audit_jsonable, audit_record, audit_record_sql
from config.platform.context import current_request_id
from config.platform.db import prepared_cursor
from config.platform.exceptions import IdempotencyKeyReused, ValidationFailed
from config.platform.models import Program
from rules.exceptions import AlreadyReferred, ReferralCycle, SelfReferral
from rules.links import attribution
from rules.models import Event, Participant, Referral
from rules.services.handoff import event_handoff_on_commit
from rules.services.participants import participant_get_or_create, participant_merge_attributes
from rules.services.processing import HANDOFF_LEASE
from rules.services.referral_graph import lock_program_graph, referral_link

# The rule trigger pattern (rules/schema.json): a type no trigger can name would never match.
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
# Ids the system gives its own events (e.g. referral_created:<referred>); clients cannot use
# them, or a client event could take the id of a later referral's event and block it.
SYSTEM_EVENT_ID_PREFIX = "referral_created:"
REFERRAL_EVENT = "referral_created"


def event_body_hash(
    *,
    type: str,
    user: str,
    occurred_at: datetime | None,
    attributes: dict[str, Any],
    data: dict[str, Any],
    click_id: str | None = None,
    coupon: str | None = None,
) -> str:
    """What makes two deliveries of one event id "the same request" (SPEC §6)."""
    body = {
        "type": type,
        "user": user,
        "occurred_at": occurred_at.astimezone(UTC).isoformat() if occurred_at else None,
        "attributes": attributes,
        "data": data,
    }
    # Only when given, so an event without them hashes as it always did.
    if click_id:
        body["click_id"] = click_id
    if coupon:
        body["coupon"] = coupon
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(raw.encode()).hexdigest()


def event_replay(existing: Event, body_hash: str) -> tuple[Event, bool]:
    """The answer to an event id already stored: the stored event (created=False) when the
    body is the same, else IdempotencyKeyReused."""
    if existing.body_hash != body_hash:
        raise IdempotencyKeyReused(
            f"Event {existing.event_id!r} was already received with a different body; "
            "send a new event id."
        )
    return existing, False


def event_prepare(
    *,
    program: Program,
    event_id: str,
    type: str,
    user: str,
    occurred_at: datetime | None,
    attributes: dict[str, Any],
    data: dict[str, Any],
    system: bool = False,
    click_id: str | None = None,
    coupon: str | None = None,
) -> dict[str, Any]:
    """The checks an event must pass before anything is read or written (ValidationFailed),
    then the fields of its row but the participant. event_ingest and the batched ingest
    (rules.services.event_ingest_batch) both start here."""
    if not event_id or len(event_id) > 255:
        raise ValidationFailed(
            "An event id is 1-255 characters.",
            errors=[{"field": "id", "message": "1-255 characters"}],
        )
    if event_id.startswith(SYSTEM_EVENT_ID_PREFIX) and not system:
        raise ValidationFailed(
            f"Event ids starting with {SYSTEM_EVENT_ID_PREFIX!r} are reserved for events the "
            "system records itself; use another id.",
            errors=[
                {"field": "id", "message": f"the prefix {SYSTEM_EVENT_ID_PREFIX!r} is reserved"}
            ],
        )
    if not EVENT_TYPE_RE.match(type):
        raise ValidationFailed(
            "An event type is a rule trigger name: a lowercase letter, then lowercase letters, "
            "digits or '_' (at most 100 characters).",
            errors=[{"field": "type", "message": "invalid event type"}],
        )
    if occurred_at is not None and timezone.is_naive(occurred_at):
        raise ValidationFailed(
            "occurred_at needs a timezone.",
            errors=[{"field": "occurred_at", "message": "time without a timezone"}],
        )
    if click_id and coupon:
        raise ValidationFailed(
            "Give at most one of 'click_id' or 'coupon'.",
            errors=[{"field": "click_id", "message": "give click_id or coupon, not both"}],
        )
    body_hash = event_body_hash(
        type=type,
        user=user,
        occurred_at=occurred_at,
        attributes=attributes,
        data=data,
        click_id=click_id,
        coupon=coupon,
    )
    return {
        "program": program,
        "event_id": event_id,
        "type": type,
        "occurred_at": occurred_at or timezone.now(),
        "attributes": attributes,
        "data": data,
        "body_hash": body_hash,
        "next_attempt_at": _handoff_lease(),
    }


def event_ingest(
    *,
    program: Program,
    event_id: str,
    type: str,
    user: str,
    occurred_at: datetime | None = None,
    attributes: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    actor: str,
    system: bool = False,
    click_id: str | None = None,
    coupon: str | None = None,
) -> tuple[Event, bool]:
    """Store an event once. The same id and body again returns the stored event
    (created=False); the same id with another body is IdempotencyKeyReused. Only the
    system (``system=True``) may use ids in the reserved namespace. A `click_id` or `coupon`
    gives a user without a referrer one, in the event's transaction; the event's
    `attribution` says what came of it (rules.links.attribution)."""
    attributes = attributes or {}
    data = data or {}
    fields = event_prepare(
        program=program,
        event_id=event_id,
        type=type,
        user=user,
        occurred_at=occurred_at,
        attributes=attributes,
        data=data,
        system=system,
        click_id=click_id,
        coupon=coupon,
    )
    body_hash = fields["body_hash"]
    db = router.db_for_write(Event)
    attributing = bool(click_id or coupon)
    if connections[db].vendor == "postgresql" and not attributes and not attributing:
        stored = _insert_pg(Event(**fields), user=user, actor=actor, db=db)
        if stored is not None:
            return stored
    existing = _stored(program=program, event_id=event_id)
    if existing is not None:
        return event_replay(existing, body_hash)
    try:
        with transaction.atomic():
            if attributing:
                # Before the user's row, in the order POST P/referrals takes them: two
                # transactions creating the same new user cannot wait on each other.
                lock_program_graph(program)
            participant, _ = participant_get_or_create(
                program=program, external_id=user, actor=actor
            )
            if attributes:
                participant = participant_merge_attributes(
                    participant=participant, attributes=attributes, actor=actor
                )
            referral = None
            if attributing:
                result, referral = _attribute(
                    program=program,
                    participant=participant,
                    at=fields["occurred_at"],
                    click_id=click_id,
                    coupon=coupon,
                    actor=actor,
                )
                fields["attribution"] = result.as_json()
            event = Event.objects.create(participant=participant, **fields)
            _hand_off(event, db=db)
            audit_record(
                program=program,
                actor=actor,
                action="event.received",
                object_type="event",
                object_id=event_id,
                after={"type": type, "user": user},
            )
            if referral is not None:
                referral_event_ingest(referral, actor=actor)
    except IntegrityError:
        existing = _stored(program=program, event_id=event_id)
        if existing is None:
            raise
        return event_replay(existing, body_hash)  # the same id arrived concurrently
    return event, True


def _attribute(
    *,
    program: Program,
    participant: Participant,
    at: datetime,
    click_id: str | None,
    coupon: str | None,
    actor: str,
) -> tuple[attribution.Attribution, Referral | None]:
    """The event's referral from its click id or coupon, under the program's graph lock (so
    racing events of one user add one referral; event_ingest holds it). Every outcome but a
    new referral is a status with its reason; the event is stored either way."""
    existing = Referral.objects.filter(referred=participant).select_related("referrer").first()
    if existing is not None:
        return attribution.Attribution(
            attribution.ALREADY_REFERRED,
            f"{participant.external_id!r} was already referred by "
            f"{existing.referrer.external_id!r}.",
            click_id=click_id,
            coupon=coupon,
        ), None
    result = attribution.resolve(
        program=program, user=participant.external_id, at=at, click_id=click_id, coupon=coupon
    )
    if result.referrer is None:
        return result, None
    try:
        referral = referral_link(
            program=program, referrer=result.referrer, referred=participant, actor=actor
        )
    except SelfReferral as exc:
        return attribution.Attribution(attribution.SELF, str(exc), click_id=click_id), None
    except AlreadyReferred as exc:
        return attribution.Attribution(attribution.ALREADY_REFERRED, str(exc)), None
    except ReferralCycle as exc:
        status = attribution.CYCLE
        return attribution.Attribution(status, str(exc), click_id=click_id, coupon=coupon), None
    return result, referral


def referral_event_ingest(referral: Referral, *, actor: str) -> None:
    """The internal `referral_created` event rules trigger on, with a deterministic id: a
    participant is referred at most once."""
    referred = referral.referred.external_id
    event_ingest(
        program=referral.program,
        event_id=f"{SYSTEM_EVENT_ID_PREFIX}{referred}",
        type=REFERRAL_EVENT,
        user=referred,
        occurred_at=referral.created_at,
        data={
            "referrer": referral.referrer.external_id,
            "referral_code": referral.referrer.referral_code,
        },
        actor=actor,
        system=True,
    )


def _handoff_lease() -> datetime | None:
    """With a broker, an event is stored already marked as handed off (the lease the
    sweeper waits out, rules.services.processing.HANDOFF_LEASE): the mark used to be an UPDATE
    of its own after commit. A failed publish still makes it due at once (event_enqueue)."""
    if not settings.CELERY_BROKER_URL:
        return None  # processed inline on commit
    return timezone.now() + HANDOFF_LEASE


def _stored(*, program: Program, event_id: str) -> Event | None:
    return (
        Event.objects.filter(program=program, event_id=event_id)
        .select_related("participant")
        .first()
    )


@functools.cache
def _insert_query(db: str) -> tuple[rowsql.Columns, list, str]:
    participant = rowsql.columns(Participant, "p", db)
    found = rowsql.columns(Participant, "part", db)  # the same columns, read back from `part`
    fields, column_list = rowsql.insert_columns(Event, db)
    placeholders = ", ".join("part.id" if f.attname == "participant_id" else "%s" for f in fields)
    sql = (
        f"WITH part AS (SELECT {', '.join(participant.sql)} FROM {Participant._meta.db_table} p"
        " WHERE p.program_id = %s AND p.external_id = %s),"
        f" ev AS (INSERT INTO {Event._meta.db_table} ({column_list})"
        f" SELECT {placeholders} FROM part"
        " ON CONFLICT (program_id, event_id) DO NOTHING RETURNING id),"
        " audit AS ({audit})"
        f" SELECT (SELECT id FROM ev), {', '.join(found.sql)} FROM part"
    )
    return found, [f for f in fields if f.attname != "participant_id"], sql


def _insert_pg(event: Event, *, user: str, actor: str, db: str) -> tuple[Event, bool] | None:
    """PostgreSQL, the common case (a known user, no attributes to merge): the event row and
    its audit entry in one statement, which is atomic on its own. A repeated id inserts
    nothing (ON CONFLICT) and is answered from the stored event; an unknown user returns None
    for the portable path, which creates the participant."""
    participant_cols, fields, template = _insert_query(db)
    audit_sql, audit_params = audit_record_sql(
        source="ev",
        program=event.program,
        actor=actor,
        action="event.received",
        object_type="event",
        object_id=event.event_id,
        after={"type": event.type, "user": user},
    )
    params: list[Any] = [event.program.pk, user]
    params += rowsql.insert_params(event, fields, db)
    params += audit_params
    with prepared_cursor(db) as cursor:
        cursor.execute(template.replace("{audit}", audit_sql), params)
        row = cursor.fetchone()
    if row is None:
        return None  # no such participant yet
    if row[0] is None:  # the id is taken: a repeat, or the same id arriving concurrently
        existing = _stored(program=event.program, event_id=event.event_id)
        if existing is None:  # pragma: no cover - a conflicting row is never deleted
            raise IntegrityError(f"event {event.event_id!r} conflicts but is not stored")
        return event_replay(existing, event.body_hash)
    event.pk = row[0]
    event.participant = cast(Participant, participant_cols.load(db, row[1:]))
    event._state.adding = False
    event._state.db = db
    _hand_off(event, db=db)
    return event, True


def _hand_off(event: Event, *, db: str) -> None:
    """Queue a new event for processing once its row is committed. An event stored with a
    hand-off lease (with a broker, `_handoff_lease`) is already marked."""
    event_handoff_on_commit(event.pk, marked=event.next_attempt_at is not None, using=db)


def events_store_bulk_pg(
    *,
    program: Program,
    events: Sequence[tuple[Event, str]],
    participants: dict[str, Participant],
    actor: str,
    db: str,
) -> bool:
    """PostgreSQL, many events of known users without attribution (`events`: each unsaved,
    from event_prepare, with its user's external id; `participants`: those users as read):
    what event_ingest does for each, in order, in one statement (one transaction of its own,
    or a savepoint inside a caller's). It writes the events (ON CONFLICT DO NOTHING), the
    users' merged attributes and the audit entries (`participant.attributes_merged` when a
    merge changed something, then `event.received`, event by event). Several events of one
    user merge in their order, each audited as its own merge would be.

    The merge is computed from the attributes as read, and written only where the row still
    holds them (the UPDATE takes the row lock and re-reads a row changed meanwhile): the
    same effect as merging under the row lock, without a round trip to take it. The
    statement fails, and so writes nothing, when it stored fewer events than it was given (an
    id taken by a concurrent request) or a user's attributes changed since they were read.
    It then returns False, as for any database error: the caller stores the events one by
    one, which answers each as event_ingest does. On success each event has its pk and
    participant (`participants` hold the merged attributes), and is handed off on commit."""
    state = {user: participants[user].attributes for _, user in events}
    before = dict(state)
    changed: dict[str, None] = {}  # the users whose attributes the events change
    audit: list[dict[str, Any]] = []
    for event, user in events:
        event.participant = participants[user]
        merged = {**state[user], **event.attributes}
        if event.attributes and merged != state[user]:
            audit.append(
                _audit_row(
                    "participant.attributes_merged",
                    "participant",
                    user,
                    before=state[user],
                    after=merged,
                )
            )
            state[user] = merged
            changed[user] = None
        audit.append(
            _audit_row(
                "event.received", "event", event.event_id, after={"type": event.type, "user": user}
            )
        )
    now = timezone.now()
    # In pk order: two batches updating the same users lock them in the same order.
    updates = sorted(
        (
            {"id": participants[user].pk, "before": before[user], "after": state[user]}
            for user in changed
        ),
        key=lambda u: u["id"],
    )
    savepoint = transaction.atomic(using=db) if connections[db].in_atomic_block else nullcontext()
    try:
        with savepoint:
            stored = _bulk_write(program, events, updates, audit, now=now, actor=actor, db=db)
    except DatabaseError:
        return False  # nothing written
    for user in changed:
        participants[user].attributes, participants[user].updated_at = state[user], now
    for event, _ in events:
        event.pk = stored[event.event_id]
        event._state.adding = False
        event._state.db = db
        _hand_off(event, db=db)
    return True


def _audit_row(
    action: str,
    object_type: str,
    object_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit entry's own columns, as audit_record would store them (JSON through
    DjangoJSONEncoder)."""
    return {
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": audit_jsonable(before),
        "after": audit_jsonable(after),
    }


@functools.cache
def _bulk_query(db: str) -> tuple[list, str]:
    conn = connections[db]
    q = conn.ops.quote_name
    fields, column_list = rowsql.insert_columns(Event, db)
    participant = Participant._meta
    attributes = q(cast(str, participant.get_field("attributes").column))
    updated_at = q(cast(str, participant.get_field("updated_at").column))
    # The last SELECT divides by zero, failing the statement and so undoing all of it, unless
    # every event and every attribute update was written.
    sql = (
        f"WITH ev AS (INSERT INTO {Event._meta.db_table} ({column_list})"
        f" SELECT {', '.join(f'r.{q(cast(str, f.column))}' for f in fields)}"
        f" FROM jsonb_populate_recordset(NULL::{Event._meta.db_table}, %s::jsonb)"
        " WITH ORDINALITY AS r ORDER BY r.ordinality"
        " ON CONFLICT (program_id, event_id) DO NOTHING RETURNING event_id, id),"
        f" upd AS (UPDATE {participant.db_table} p SET {attributes} = u.after,"
        f" {updated_at} = %s FROM jsonb_to_recordset(%s::jsonb)"
        " AS u(id bigint, before jsonb, after jsonb)"
        f" WHERE p.id = u.id AND p.{attributes} = u.before RETURNING p.id),"
        " audit AS (INSERT INTO ledger_auditentry (program_id, at, actor, action, object_type,"
        " object_id, before, after, reason, request_id)"
        " SELECT %s::bigint, %s, %s, a.action, a.object_type, a.object_id, a.before, a.after,"
        " '', %s FROM jsonb_to_recordset(%s::jsonb) AS a(n bigint, action text,"
        " object_type text, object_id text, before jsonb, after jsonb) ORDER BY a.n)"
        " SELECT 1 / ((SELECT count(*) FROM ev) = %s AND (SELECT count(*) FROM upd) = %s)::int,"
        " (SELECT coalesce(jsonb_agg(jsonb_build_array(event_id, id)), '[]') FROM ev)"
    )
    return fields, sql


def _bulk_write(
    program: Program,
    events: Sequence[tuple[Event, str]],
    updates: list[dict[str, Any]],
    audit: list[dict[str, Any]],
    *,
    now: datetime,
    actor: str,
    db: str,
) -> dict[str, int]:
    """The one statement of events_store_bulk_pg: {event_id: pk}. Rows travel as JSON
    documents (one parameter each), so the statement is the same text whatever the batch
    size and is prepared once per connection."""
    fields, sql = _bulk_query(db)
    rows = [
        {cast(str, f.column): _column_value(getattr(e, cast(str, f.attname))) for f in fields}
        for e, _ in events
    ]
    params = [
        json.dumps(rows),
        now,
        json.dumps(updates),
        program.pk,
        now,
        actor,
        current_request_id(),
        json.dumps([{"n": n, **entry} for n, entry in enumerate(audit)]),
        len(events),
        len(updates),
    ]
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return dict(json.loads(row[1]))  # jsonb comes as its text (Django loads JSON itself)


def _column_value(value: Any) -> Any:
    """A column's value in a row document for jsonb_populate_recordset: JSON columns as their
    JSON, times in full (ISO 8601 with the offset, microseconds kept)."""
    return value.isoformat() if isinstance(value, datetime) else value
