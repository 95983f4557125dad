"""Idempotency-Key handling (IETF draft "The Idempotency-Key HTTP Header Field").

The record (key, hash of the canonical request, response) is claimed *before* the effect with
`INSERT ... ON CONFLICT DO NOTHING` and completed after it, all in one database transaction: a
request costs BEGIN, the claim, the effect, one UPDATE and COMMIT (no savepoints, no read
first). A racing duplicate's claim blocks on the unique index until the first commits, then
inserts nothing and replays the stored response: exactly one effect. A validation error (400)
stores nothing, so a corrected request may reuse the key. A business outcome (e.g. 409
insufficient_funds) is stored and replayed like a success: the effect's transaction is rolled
back whole (the claim with it; PostgreSQL cannot continue a transaction after a failed
statement, and a savepoint per request would cost two more round trips), then the outcome is
stored by a claim of its own. Should a duplicate claim the key in between, its outcome is the
one stored, and this request answers with it too: still one effect, one answer per key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils import encoders

from config.platform.api.errors import PROBLEM, problem
from config.platform.db import prepared_cursor
from config.platform.exceptions import (
    DomainError,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    ValidationFailed,
)
from config.platform.models import IdempotencyRecord, Program

REPLAYED = "Idempotent-Replayed"
_TABLE = IdempotencyRecord._meta.db_table


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    raw = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _key_from(request: Request) -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        raise IdempotencyKeyRequired("This endpoint requires an Idempotency-Key header.")
    if len(key) > 255 or not all(0x20 <= ord(c) < 0x7F for c in key):
        raise ValidationFailed(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            errors=[{"field": "Idempotency-Key", "message": "1-255 printable ASCII characters"}],
        )
    return key


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request; use a new key."
        )
    if record.response_status is None:
        raise IdempotencyRequestInProgress("The first request with this key is still running.")
    status = record.response_status
    return Response(
        record.response_body,
        status=status,
        headers={REPLAYED: "true"},
        content_type=PROBLEM if status >= 400 else None,
    )


def _claim(
    program: Program,
    key: str,
    fingerprint: str,
    *,
    status: int | None = None,
    body: str | None = None,
) -> int | None:
    """Insert the key's record; its id, or None if the key is taken (a concurrent holder makes
    the insert wait on the unique index until it commits or rolls back)."""
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (program_id, key, request_hash, response_status, response_body,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (program_id, key) DO NOTHING RETURNING id",
            [
                program.pk,
                key,
                fingerprint,
                status,
                body,
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def _complete(record_id: int, response: Response) -> None:
    with prepared_cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET response_status = %s, response_body = %s WHERE id = %s",
            [response.status_code, _stored_body(response), record_id],
        )


def _stored_body(response: Response) -> str:
    # The encoder DRF's JSONRenderer uses, so a replay's body equals the first response's.
    return json.dumps(response.data, cls=encoders.JSONEncoder)


def idempotent(request: Request, program: Program, effect: Callable[[], Response]) -> Response:
    key = _key_from(request)
    fingerprint = request_fingerprint(request)
    stored: IdempotencyRecord | None = None
    try:
        with transaction.atomic():
            record_id = _claim(program, key, fingerprint)
            if record_id is None:
                stored = IdempotencyRecord.objects.get(program=program, key=key)
            else:
                response = effect()
                _complete(record_id, response)
    except DomainError as exc:
        if exc.status == 400:
            raise  # invalid request: nothing happened, nothing stored
        response = Response(
            problem(
                status=exc.status,
                code=exc.code,
                title=exc.title,
                detail=exc.detail,
                errors=exc.errors,
            ),
            status=exc.status,
            content_type=PROBLEM,
        )
        # The effect rolled back; store its outcome unless a duplicate claimed the key meanwhile.
        with transaction.atomic():
            body = _stored_body(response)
            if _claim(program, key, fingerprint, status=exc.status, body=body) is None:
                stored = IdempotencyRecord.objects.get(program=program, key=key)
    if stored is not None:
        return _replay(stored, fingerprint)
    return response
