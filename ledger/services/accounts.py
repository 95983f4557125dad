"""Opening accounts: by a client (account_create) or by the system on first use
(account_get_or_create). Codes are spelled in the chart of accounts (ledger.accounts)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from config.platform.audit import audit_record
from config.platform.exceptions import AlreadyExists, CurrencyMismatch, ValidationFailed
from config.platform.models import Program
from ledger import accounts as chart
from ledger.booking import portable, postgres
from ledger.models import Account


def account_create(
    *,
    program: Program,
    code: str,
    kind: str,
    currency: str,
    no_overdraft: bool = False,
    actor: str = "system",
) -> Account:
    chart.validate_code(code)
    if chart.RESERVED_CODE_RE.match(code):
        raise ValidationFailed(
            f"Account code {code!r} is reserved: the system opens program:* accounts and "
            "user:<id>:rewards / user:<id>:credits itself.",
            errors=[{"field": "code", "message": "reserved account code"}],
        )
    if kind not in Account.Kind.values:
        raise ValidationFailed(f"Unknown account kind {kind!r}.")
    if currency != program.currency:
        raise CurrencyMismatch(
            f"Account currency {currency} differs from the program's currency {program.currency}."
        )
    try:
        with transaction.atomic():
            account = portable.open_account(
                program=program, code=code, kind=kind, no_overdraft=no_overdraft, shards=1
            )
            audit_record(
                program=program,
                actor=actor,
                action="account.created",
                object_type="account",
                object_id=code,
                after={"kind": kind, "currency": currency, "no_overdraft": no_overdraft},
            )
    except IntegrityError:
        raise AlreadyExists(f"An account with code {code!r} already exists.") from None
    return account


def account_get_or_create(
    *, program: Program, code: str, kind: str, no_overdraft: bool = False, shards: int = 1
) -> Account:
    """For accounts the system opens on first use (a user's rewards or credits)."""
    account = (
        chart.cache_get(program, code) or Account.objects.filter(program=program, code=code).first()
    )
    if account is None:
        chart.validate_code(code)
        opened: Account | None
        if postgres.in_use():
            opened = postgres.open_account(
                program=program, code=code, kind=kind, no_overdraft=no_overdraft, shards=shards
            )
        else:
            try:
                with transaction.atomic():
                    opened = portable.open_account(
                        program=program,
                        code=code,
                        kind=kind,
                        no_overdraft=no_overdraft,
                        shards=shards,
                    )
            except IntegrityError:
                opened = None
        # None: opened concurrently
        account = opened or Account.objects.get(program=program, code=code)
    if account.kind != kind or account.no_overdraft != no_overdraft:
        raise AlreadyExists(
            f"Account {code} already exists as a {account.kind} account with "
            f"no_overdraft={account.no_overdraft}; the system needs a {kind} account with "
            f"no_overdraft={no_overdraft}."
        )
    chart.cache_add([account])
    return account
