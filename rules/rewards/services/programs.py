"""Creating a program: the tenant row and the system accounts its referral money moves through."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from config.platform.audit import audit_record
from config.platform.currencies import CURRENCY_RE
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from ledger.accounts import PROGRAM_ACCOUNT_SHARDS, PROGRAM_ACCOUNTS
from ledger.services.accounts import account_get_or_create
from rules.rewards.operations import operation_set_get


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
            for code, kind in PROGRAM_ACCOUNTS.items():
                account_get_or_create(
                    program=program, code=code, kind=kind, shards=PROGRAM_ACCOUNT_SHARDS
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
