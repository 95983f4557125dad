from __future__ import annotations

import re
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger.exceptions import ValidationFailed
from ledger.models import Account, ApiKey, Program, hash_api_key
from ledger.services.audit import audit_record
from ledger.services.transactions import account_get_or_create

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

# System accounts every program has. Shards spread concurrent writers on these hot accounts.
SYSTEM_ACCOUNTS: list[tuple[str, str]] = [
    ("program:rewards_expense", Account.Kind.EXPENSE),
    ("program:payouts_clearing", Account.Kind.LIABILITY),
    ("program:credits_issued", Account.Kind.EQUITY),
]
SYSTEM_ACCOUNT_SHARDS = 8


def program_create(
    *,
    slug: str,
    name: str,
    currency: str,
    direct_rate_bps: int = 1000,
    override_rate_bps: int = 200,
    hold_days: int = 0,
    operation_set: str = "core",
    min_payout: int = 0,
    actor: str = "system",
) -> tuple[Program, bool]:
    """Create a program and its system accounts. An existing slug is returned unchanged."""
    from ledger.operations import operation_set_get

    currency = currency.upper()
    if not CURRENCY_RE.match(currency):
        raise ValidationFailed(f"Currency must be an ISO 4217 code such as INR, not {currency!r}.")
    operation_set_get(operation_set)  # raises UnknownOperation-style validation early
    existing = Program.objects.filter(slug=slug).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            program = Program.objects.create(
                slug=slug,
                name=name,
                currency=currency,
                direct_rate_bps=direct_rate_bps,
                override_rate_bps=override_rate_bps,
                hold_days=hold_days,
                operation_set=operation_set,
                min_payout=min_payout,
            )
            for code, kind in SYSTEM_ACCOUNTS:
                account_get_or_create(
                    program=program, code=code, kind=kind, shards=SYSTEM_ACCOUNT_SHARDS
                )
            audit_record(
                program=program,
                actor=actor,
                action="program.created",
                object_type="program",
                object_id=program.slug,
                after={"slug": slug, "name": name, "currency": currency},
            )
    except IntegrityError:  # created concurrently by someone else
        return Program.objects.get(slug=slug), False
    return program, True


def api_key_create(
    *, program: Program, name: str = "", actor: str = "system"
) -> tuple[ApiKey, str]:
    """Make a key and return it with its raw value, which is never stored or shown again."""
    raw = f"rl_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            program=program, name=name, prefix=raw[:10], key_hash=hash_api_key(raw)
        )
        audit_record(
            program=program,
            actor=actor,
            action="api_key.created",
            object_type="api_key",
            object_id=key.pk,
            after={"name": name, "prefix": key.prefix},
        )
    return key, raw


def api_key_revoke(*, api_key: ApiKey, actor: str, reason: str = "") -> ApiKey:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit_record(
                program=key.program,
                actor=actor,
                action="api_key.revoked",
                object_type="api_key",
                object_id=key.pk,
                before={"revoked_at": None},
                after={"revoked_at": key.revoked_at},
                reason=reason,
            )
    return key
