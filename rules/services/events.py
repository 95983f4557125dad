"""Event ingestion: a durable intent, stored with the attribute merge in one transaction.

Processing is handed off by the post_save signal (rules.signals) after commit; see
rules.services.processing for what happens then."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger.exceptions import IdempotencyKeyReused, NotFound, ValidationFailed
from ledger.models import Program
from ledger.services.audit import audit_record
from rules.models import Event
from rules.services.participants import participant_get_or_create, participant_merge_attributes

# The rule trigger pattern (rules/schema.json): a type no trigger can name would never match.
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
# Ids the system gives its own events (e.g. referral_created:<referred>); clients cannot use
# them, or a client event could take the id of a later referral's event and block it.
SYSTEM_EVENT_ID_PREFIX = "referral_created:"


def event_body_hash(
    *,
    type: str,
    user: str,
    occurred_at: datetime | None,
    attributes: dict[str, Any],
    data: dict[str, Any],
) -> str:
    """What makes two deliveries of one event id "the same request" (SPEC §6)."""
    body = {
        "type": type,
        "user": user,
        "occurred_at": occurred_at.astimezone(UTC).isoformat() if occurred_at else None,
        "attributes": attributes,
        "data": data,
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(existing: Event, body_hash: str) -> tuple[Event, bool]:
    if existing.body_hash != body_hash:
        raise IdempotencyKeyReused(
            f"Event {existing.event_id!r} was already received with a different body; "
            "send a new event id."
        )
    return existing, False


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
) -> tuple[Event, bool]:
    """Store an event once. The same id and body again returns the stored event
    (created=False); the same id with another body is IdempotencyKeyReused. Only the
    system (``system=True``) may use ids in the reserved namespace."""
    attributes = attributes or {}
    data = data or {}
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
    body_hash = event_body_hash(
        type=type, user=user, occurred_at=occurred_at, attributes=attributes, data=data
    )
    existing = Event.objects.filter(program=program, event_id=event_id).first()
    if existing is not None:
        return _replay(existing, body_hash)
    try:
        with transaction.atomic():
            participant, _ = participant_get_or_create(
                program=program, external_id=user, actor=actor
            )
            if attributes:
                participant = participant_merge_attributes(
                    participant=participant, attributes=attributes, actor=actor
                )
            event = Event.objects.create(
                program=program,
                event_id=event_id,
                type=type,
                participant=participant,
                occurred_at=occurred_at or timezone.now(),
                attributes=attributes,
                data=data,
                body_hash=body_hash,
            )
            audit_record(
                program=program,
                actor=actor,
                action="event.received",
                object_type="event",
                object_id=event_id,
                after={"type": type, "user": user},
            )
    except IntegrityError:
        existing = Event.objects.filter(program=program, event_id=event_id).first()
        if existing is None:
            raise
        return _replay(existing, body_hash)  # the same id arrived concurrently
    return event, True


def event_get(*, program: Program, event_id: str) -> Event:
    event = (
        Event.objects.filter(program=program, event_id=event_id)
        .select_related("participant")
        .first()
    )
    if event is None:
        raise NotFound(f"No event {event_id!r}.")
    return event
