"""A crash between the provider's answer and our commit never pays twice (SPEC §13, issue 14).

A worker process executes a stripe_connect batch against the local Stripe stub
(tests/rails/stub_servers.py, the official `stripe` SDK over HTTP) and is SIGKILLed right after
Stripe answered and before our database recorded the answer. The batch is executed (booked and
sent in the first transaction) but its items have no provider_ref. Executing it again asks
Stripe again with the same idempotency keys (`payout-item-{id}`): Stripe replays the transfers it
made, so each partner got exactly one transfer, and the items end `paid` with those transfers'
ids; reconciliation is clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from ledger.services.reconciliation import reconciliation_run
from rules.rewards.models import PayoutItem
from rules.rewards.services.payouts import payout_batch_execute
from rules.rewards.services.programs import program_create
from tests.payouts.conftest import CREATOR

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = {"carol": "acct_1PartnerA", "dave": "acct_1PartnerB"}


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def test_worker_killed_after_the_provider_answered_pays_once_on_retry(
    db, earned, approved, stripe_stub
):
    usd, _ = program_create(slug="usd", name="USD shop", currency="USD")
    for who, account in ACCOUNTS.items():
        earned(who, 2500, ("stripe_connect", {"account": account}), prog=usd)
    batch = approved(list(ACCOUNTS), rail="stripe_connect", prog=usd)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "STRIPE_SECRET_KEY": stripe_stub.api_key,
        "STRIPE_API_BASE": stripe_stub.url,
    }
    worker = subprocess.run(
        [sys.executable, "-m", "tests.payouts.kill_worker", str(batch.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stdout + worker.stderr
    assert "provider answered" in worker.stdout and "not killed" not in worker.stdout

    # Killed before our commit: booked and sent (first transaction), the answer lost.
    batch.refresh_from_db()
    assert batch.status == "executed"
    items = list(PayoutItem.objects.filter(batch=batch))
    assert {(i.status, i.provider_ref) for i in items} == {("sent", "")}
    assert sum(len(stripe_stub.transfers_to(a)) for a in ACCOUNTS.values()) == 2

    # The retry: same keys, Stripe replays the same transfers; nobody is paid twice.
    payout_batch_execute(batch=batch, actor=CREATOR)

    for who, account in ACCOUNTS.items():
        transfers = stripe_stub.transfers_to(account)
        assert len(transfers) == 1, transfers
        item = PayoutItem.objects.get(batch=batch, beneficiary=who)
        assert item.provider_ref == transfers[0]["id"]
        assert item.status == "paid"
        assert transfers[0]["amount"] == item.amount == 2500
    replayed = [
        r
        for r in stripe_stub.requests
        if r.headers.get("idempotency-key", "").startswith("payout-item-")
    ]
    assert len(replayed) == 4  # two items, each asked twice with its own key
    assert len({r.headers["idempotency-key"] for r in replayed}) == 2
    assert reconciliation_run(program=usd).findings == []
