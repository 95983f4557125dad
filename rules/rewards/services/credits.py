"""Credits wallets driven by typed operations (SPEC §5).

An owner's credits live in `user:{owner}:credits` (a no_overdraft liability) against
`program:credits_issued`. The operation's default amount gives the sign (and the amount when
none is given). The nonce is the idempotency key: the entry row is unique per (program, nonce)
and is written in the same database transaction as the booking, so a retry or a racing
duplicate finds the first entry instead of moving credits twice. A request refused for
insufficient credits writes no entry; its request is kept as an idempotency record instead, so
the nonce stays bound to that body (another body: 422; the same body may be retried).
"""

from __future__ import annotations

import hashlib
import json

from django.db import IntegrityError, transaction

from config.platform.audit import audit_record
from config.platform.exceptions import IdempotencyKeyReused, InsufficientFunds, ValidationFailed
from config.platform.identifiers import PARTICIPANT_ID_RE
from config.platform.models import IdempotencyRecord, Program
from ledger.accounts import CREDITS_ISSUED, user_credits_code
from ledger.booking.lines import PostingLine
from ledger.models import Account
from ledger.selectors import account_balance
from ledger.services.accounts import account_get_or_create
from ledger.services.transactions import transaction_create
from rules.rewards.models import CreditEntry
from rules.rewards.operations import operation_get


def _fingerprint(owner_id: str, operation: str, amount: int | None) -> str:
    body = json.dumps(
        {"owner_id": owner_id, "operation": operation, "amount": amount}, sort_keys=True
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _replay(entry: CreditEntry, fingerprint: str) -> tuple[CreditEntry, bool]:
    if entry.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"Nonce {entry.nonce!r} was already used with a different request; use a new nonce."
        )
    return entry, False


def _refusal_key(nonce: str) -> str:
    # An Idempotency-Key record of its own namespace (hashed: a nonce may be 255 characters).
    return "credits-nonce:" + hashlib.sha256(nonce.encode()).hexdigest()


def _replay_refusal(program: Program, nonce: str, fingerprint: str) -> None:
    """A nonce whose request was refused (409, nothing moved) stays bound to that request's body
    (SPEC §5: another body is 422). The same body may be retried, e.g. once funds arrive."""
    record = IdempotencyRecord.objects.filter(program=program, key=_refusal_key(nonce)).first()
    if record is not None and record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"Nonce {nonce!r} was already used with a different request; use a new nonce."
        )


def _record_refusal(program: Program, nonce: str, fingerprint: str, exc: InsufficientFunds) -> None:
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                program=program,
                key=_refusal_key(nonce),
                request_hash=fingerprint,
                response_status=exc.status,
                response_body={"code": exc.code, "detail": exc.detail},
            )
    except IntegrityError:  # a concurrent refusal of the same nonce was stored first
        pass


def credits_balance(*, program: Program, owner_id: str) -> int:
    account = Account.objects.filter(program=program, code=user_credits_code(owner_id)).first()
    return 0 if account is None else account_balance(account)["posted"]["balance"]


def credit_apply(
    *,
    program: Program,
    owner_id: str,
    operation: str,
    amount: int | None,
    nonce: str,
    actor: str,
) -> tuple[CreditEntry, bool]:
    """Apply one operation of the program's set to an owner's credits. Returns the entry and
    whether it was created (False: a replay of the same nonce and body)."""
    if not isinstance(owner_id, str) or not PARTICIPANT_ID_RE.fullmatch(owner_id):
        raise ValidationFailed(
            "owner_id must be 1-200 characters: letters, digits, _ . @ -",
            errors=[{"field": "owner_id", "message": "letters, digits, _ . @ - (1-200)"}],
        )
    if not nonce or len(nonce) > 255:
        raise ValidationFailed(
            "nonce must be 1-255 characters.",
            errors=[{"field": "nonce", "message": "1-255 characters"}],
        )
    if amount is not None and (type(amount) is not int or amount <= 0):
        raise ValidationFailed(
            "amount is a positive integer; the operation gives the sign.",
            errors=[{"field": "amount", "message": "must be a positive integer"}],
        )
    fingerprint = _fingerprint(owner_id, operation, amount)
    existing = CreditEntry.objects.filter(program=program, nonce=nonce).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    _replay_refusal(program, nonce, fingerprint)
    op = operation_get(program.operation_set, operation)
    signed = op.sign * (amount if amount is not None else abs(op.default_amount))  # type: ignore[attr-defined]
    code = user_credits_code(owner_id)
    try:
        with transaction.atomic():
            txn = None
            if signed:
                account = account_get_or_create(
                    program=program, code=code, kind=Account.Kind.LIABILITY, no_overdraft=True
                )
                user_side, issued_side = ("credit", "debit") if signed > 0 else ("debit", "credit")
                txn = transaction_create(
                    program=program,
                    postings=[
                        PostingLine(CREDITS_ISSUED, issued_side, abs(signed)),
                        PostingLine(account, user_side, abs(signed)),
                    ],
                    description=f"{op.name} for {owner_id}",
                    metadata={"operation": op.name, "nonce": nonce},
                    reference=f"credits:{nonce}",
                    actor=actor,
                    audit=False,
                )
            entry = CreditEntry.objects.create(
                program=program,
                owner_id=owner_id,
                operation=op.name,
                amount=signed,
                nonce=nonce,
                request_hash=fingerprint,
                # Our own booking holds the account's only balance row, so this read is exact.
                balance=credits_balance(program=program, owner_id=owner_id),
                transaction=txn,
            )
            audit_record(
                program=program,
                actor=actor,
                action="credit.applied",
                object_type="credit_entry",
                object_id=entry.pk,
                after={
                    "owner_id": owner_id,
                    "operation": op.name,
                    "amount": signed,
                    "balance": entry.balance,
                    "nonce": nonce,
                },
            )
    except (IntegrityError, InsufficientFunds) as exc:
        # A racing request with the same nonce may have committed while we waited on its rows:
        # then this is a replay, not an error.
        existing = CreditEntry.objects.filter(program=program, nonce=nonce).first()
        if existing is not None:
            return _replay(existing, fingerprint)
        if isinstance(exc, InsufficientFunds):
            _record_refusal(program, nonce, fingerprint, exc)
            _replay_refusal(program, nonce, fingerprint)  # 422 if another body's refusal won
        raise
    return entry, True
