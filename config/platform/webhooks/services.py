"""Webhooks' outbox (docs/WEBHOOKS.md): messages written with the change they report, handed
to delivery after commit, and an operator's redelivery.

`webhook_emit` runs inside the caller's database transaction and only inserts rows, so the
message exists exactly when the change does. Delivery happens after commit
(config.platform.webhooks.tasks: on a Celery worker when a broker is configured, otherwise on the
web process's small delivery pool with a short timeout); config.platform.webhooks.delivery sends.
Endpoints are managed in config.platform.webhooks.endpoints.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.models import Program, WebhookEndpoint, WebhookMessage
from config.platform.webhooks import tasks
from config.platform.webhooks.events import webhook_event_type_known

logger = logging.getLogger(__name__)

Status = WebhookMessage.Status


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def webhook_emit(*, program: Program, event_type: str, payload: dict[str, Any]) -> None:
    """Write one outbox message per subscribed active endpoint in the current database
    transaction and hand them to delivery after commit. Does nothing without endpoints."""
    if not webhook_event_type_known(event_type):
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    # Few endpoints per program: filtering the subscription list here works on every database.
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(program=program, active=True)
        if event_type in e.events
    ]
    if not endpoints:
        return
    now = timezone.now()
    event_id = uuid.uuid4()
    data = _jsonable(payload)
    messages = WebhookMessage.objects.bulk_create(
        WebhookMessage(
            program=program,
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=data,
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint in endpoints
    )
    webhook_dispatch_on_commit([m.pk for m in messages])


def webhook_emit_sql(
    *, source: str, program: Program, event_type: str, payload_sql: str
) -> tuple[str, list[Any]]:
    """`webhook_emit` as the body of a CTE, for an event written by one SQL statement
    (PostgreSQL): `INSERT ... SELECT` of one outbox row per subscribed active endpoint for the
    one row of `source`, whose event data is the jsonb expression `payload_sql`. A program
    without endpoints costs an index probe, not a round trip. It returns the message ids: hand
    them to `webhook_dispatch_on_commit`. Returns (sql, params)."""
    if not webhook_event_type_known(event_type):
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    sql = (
        "INSERT INTO ledger_webhookmessage (id, program_id, endpoint_id, event_id, event_type,"
        f" payload, status, attempts, next_attempt_at, created_at) SELECT gen_random_uuid(),"
        f" e.program_id, e.id, ev.id, ev.type, {payload_sql}, '{Status.PENDING.value}', 0,"
        f" ev.at, ev.at FROM {source} CROSS JOIN (SELECT %s::uuid AS id, %s::text AS type,"
        " %s::timestamptz AS at) ev JOIN ledger_webhookendpoint e ON e.program_id = %s"
        " AND e.active AND e.events @> jsonb_build_array(ev.type) RETURNING id"
    )
    return sql, [uuid.uuid4(), event_type, timezone.now(), program.pk]


def webhook_dispatch_on_commit(message_ids: list[uuid.UUID]) -> None:
    """Hand written outbox messages to delivery once the current transaction commits."""
    if message_ids:
        transaction.on_commit(lambda: _dispatch(list(message_ids)))


def _dispatch(message_ids: list[uuid.UUID]) -> None:
    """After commit. Never raises: the change is committed, and a message that could not be
    handed off stays due for the sweep."""
    try:
        tasks.webhook_messages_dispatch(message_ids)
    except Exception:
        logger.exception("Could not hand off webhook messages; the sweep will deliver them")


def webhook_redeliver(*, message: WebhookMessage, actor: str, reason: str = "") -> WebhookMessage:
    """Send a message again (delivered or given up): it becomes due now with a fresh retry
    budget. Receivers see the same event id and deduplicate."""
    with transaction.atomic():
        locked = WebhookMessage.objects.select_for_update().get(pk=message.pk)
        before = {"status": locked.status, "attempts": locked.attempts}
        locked.status = Status.PENDING
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_record(
            program=locked.program,
            actor=actor,
            action="webhook_message.redelivered",
            object_type="webhook_message",
            object_id=locked.pk,
            before=before,
            after={"status": locked.status},
            reason=reason,
        )
        ids = [locked.pk]
        transaction.on_commit(lambda: _dispatch(ids))
    return locked
