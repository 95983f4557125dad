"""Domain errors. Each carries a SPEC.md error code and HTTP status; one handler
(`config.platform.api.errors`) renders them as application/problem+json."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "validation_error"
    status = 400
    title = "Invalid request"

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None):
        self.detail = detail or self.title
        self.errors = errors
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    pass


class NotFound(DomainError):
    code, status, title = "not_found", 404, "Not found"


class PermissionDenied(DomainError):
    code, status, title = "permission_denied", 403, "Permission denied"


class FourEyesViolation(PermissionDenied):
    code, title = "four_eyes_violation", "Who made a payout batch cannot approve it"


class Conflict(DomainError):
    status = 409


class AlreadyExists(Conflict):
    # SPEC §3 asks for 409 on a duplicate account code without naming a code; this one says what
    # happened, like Stripe's resource_already_exists (documented in the OpenAPI schema).
    code, title = "already_exists", "Already exists"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "Not allowed in the current state"


class InsufficientFunds(Conflict):
    code, title = "insufficient_funds", "Insufficient funds"


class AlreadyReversed(Conflict):
    code, title = "already_reversed", "Transaction already reversed"


class LedgerError(DomainError):
    """Base for errors in the shape of money movements."""


class UnbalancedTransaction(LedgerError):
    code, title = "unbalanced_transaction", "Debits and credits differ"


class CurrencyMismatch(LedgerError):
    code, title = "currency_mismatch", "Currency mismatch"


class UnknownOperation(LedgerError):
    code, title = "unknown_operation", "Unknown operation"


class IdempotencyKeyRequired(DomainError):
    code, title = "idempotency_key_required", "Idempotency-Key header required"


class IdempotencyKeyReused(DomainError):
    code, status, title = (
        "idempotency_key_reused",
        422,
        "Idempotency key reused with another request",
    )


class IdempotencyRequestInProgress(Conflict):
    code, title = "idempotency_request_in_progress", "A request with this key is in progress"


class PayloadTooLarge(DomainError):
    code, status, title = "payload_too_large", 413, "Request body too large"
