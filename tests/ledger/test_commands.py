"""Operations commands of SPEC §2: create_program and create_api_key."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from config.platform.models import ApiKey, AuditEntry, Program, hash_api_key
from ledger.models import Account, AccountBalance

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_program_creates_it_with_system_accounts():
    out = _run(
        "create_program",
        "acme",
        "--name",
        "Acme",
        "--currency",
        "inr",
        "--direct-rate-bps",
        "1500",
        "--hold-days",
        "7",
    )
    assert "Created program acme" in out
    program = Program.objects.get(slug="acme")
    assert (program.name, program.currency, program.direct_rate_bps, program.hold_days) == (
        "Acme",
        "INR",
        1500,
        7,
    )
    codes = set(Account.objects.filter(program=program).values_list("code", flat=True))
    assert {"program:rewards_expense", "program:payouts_clearing"} <= codes
    # Every account has its balance rows; the hot expense account is sharded.
    expense = Account.objects.get(program=program, code="program:rewards_expense")
    assert AccountBalance.objects.filter(account=expense).count() == expense.balance_shards > 1
    assert AuditEntry.objects.filter(action="program.created", object_id="acme").count() == 1


def test_create_program_again_changes_nothing_and_succeeds():
    _run("create_program", "acme", "--name", "Acme", "--currency", "INR")
    before = (
        Program.objects.count(),
        Account.objects.count(),
        AccountBalance.objects.count(),
        AuditEntry.objects.count(),
    )
    out = _run("create_program", "acme", "--name", "Renamed", "--currency", "USD")
    assert "already exists" in out
    after = (
        Program.objects.count(),
        Account.objects.count(),
        AccountBalance.objects.count(),
        AuditEntry.objects.count(),
    )
    assert after == before
    assert Program.objects.get(slug="acme").name == "Acme"


def test_create_program_rejects_a_bad_currency():
    with pytest.raises(CommandError):
        _run("create_program", "acme", "--name", "Acme", "--currency", "RUPEES")
    assert not Program.objects.exists()


def test_create_api_key_prints_the_key_alone_on_the_last_line_and_stores_only_a_hash(url):
    _run("create_program", "acme", "--name", "Acme", "--currency", "INR")
    out = _run("create_api_key", "acme", "--name", "ci")
    raw = out.rstrip("\n").splitlines()[-1]
    assert raw == raw.strip() and " " not in raw and len(raw) >= 32
    key = ApiKey.objects.get(name="ci")
    assert key.key_hash == hash_api_key(raw) and key.key_hash != raw
    stored = [str(v) for v in ApiKey.objects.values_list(flat=False).get(pk=key.pk)]
    assert raw not in stored  # the raw key is in no column
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(url("accounts/program:rewards_expense")).status_code == 200
    # A second key is a different key.
    second = _run("create_api_key", "acme").rstrip("\n").splitlines()[-1]
    assert second != raw and ApiKey.objects.count() == 2


def test_create_api_key_for_an_unknown_program_fails():
    with pytest.raises(CommandError, match="No program"):
        _run("create_api_key", "nope")
    assert not ApiKey.objects.exists()
