"""Idempotency-Key handling (IETF draft "The Idempotency-Key HTTP Header Field").

The record (key, hash of the canonical request, response) is inserted *before* the effect and
completed after it, all in one database transaction. A racing duplicate blocks on the unique
index until the first commits, then replays its stored response: exactly one effect. A
validation error (400) stores nothing, so a corrected request may reuse the key; a business
outcome (e.g. 409 insufficient_funds) is stored and replayed like a success.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from ledger.api.errors import PROBLEM, problem
from ledger.exceptions import (
    DomainError,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    ValidationFailed,
)
from ledger.models import IdempotencyRecord, Program

REPLAYED = "Idempotent-Replayed"


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    raw = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _key_from(request: Request) -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        raise IdempotencyKeyRequired("This endpoint requires an Idempotency-Key header.")
    if len(key) > 255 or not all(0x20 < ord(c) < 0x7F for c in key):
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


def idempotent(request: Request, program: Program, effect: Callable[[], Response]) -> Response:
    key = _key_from(request)
    fingerprint = request_fingerprint(request)
    existing = IdempotencyRecord.objects.filter(program=program, key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    program=program, key=key, request_hash=fingerprint
                )
        except IntegrityError:
            # A concurrent request with this key committed while we waited on the index.
            return _replay(IdempotencyRecord.objects.get(program=program, key=key), fingerprint)
        try:
            with transaction.atomic():
                response = effect()
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
        record.response_status = response.status_code
        record.response_body = json.loads(json.dumps(response.data, default=str))
        record.save(update_fields=["response_status", "response_body"])
    return response
