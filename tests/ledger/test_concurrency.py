"""Racing requests on real threads against PostgreSQL: each thread has its own client and its
own database connection, and all start at the same moment (a barrier)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from config.platform.models import IdempotencyRecord
from ledger.booking.lines import PostingLine
from ledger.models import Account, Transaction
from ledger.selectors import account_balance
from ledger.services.accounts import account_create
from ledger.services.reconciliation import reconciliation_run
from ledger.services.transactions import transaction_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(n: int, call: Callable[[APIClient, int], Any], api_key: str) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
        try:
            barrier.wait()
            results[i] = call(client, i)
        except Exception as exc:  # surfaced by the assertions below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_32_racing_requests_with_one_idempotency_key_have_one_effect(program, api_key, url):
    body = {
        "postings": [
            {"account": "program:rewards_expense", "direction": "debit", "amount": 250},
            {"account": "program:payouts_clearing", "direction": "credit", "amount": 250},
        ],
        "description": "race",
    }
    responses = _race(
        32,
        lambda client, i: client.post(
            url("transactions"), body, format="json", HTTP_IDEMPOTENCY_KEY="one-key"
        ),
        api_key,
    )
    assert not [r for r in responses if isinstance(r, Exception)], responses
    assert Counter(r.status_code for r in responses) == {201: 32}
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies)
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 31
    assert Transaction.objects.filter(program=program).count() == 1
    assert IdempotencyRecord.objects.filter(program=program, key="one-key").count() == 1
    expense = Account.objects.get(program=program, code="program:rewards_expense")
    assert account_balance(expense)["posted"]["balance"] == 250


def test_30_racing_spends_against_a_balance_covering_10(program, api_key, url):
    account_create(
        program=program, code="user:bob:wallet", kind="liability", currency="INR", no_overdraft=True
    )
    transaction_create(
        program=program,
        postings=[
            PostingLine("program:rewards_expense", "debit", 1000),
            PostingLine("user:bob:wallet", "credit", 1000),
        ],
    )
    wallet = Account.objects.get(program=program, code="user:bob:wallet")
    spend = {
        "postings": [
            {"account": "user:bob:wallet", "direction": "debit", "amount": 100},
            {"account": "program:payouts_clearing", "direction": "credit", "amount": 100},
        ]
    }

    # A reader samples the stored balance while the spends race.
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        try:
            while not stop.is_set():
                seen.append(account_balance(wallet)["available"])
        finally:
            connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        responses = _race(
            30,
            lambda client, i: client.post(
                url("transactions"), spend, format="json", HTTP_IDEMPOTENCY_KEY=f"spend-{i}"
            ),
            api_key,
        )
    finally:
        stop.set()
        sampler.join()

    assert not [r for r in responses if isinstance(r, Exception)], responses
    assert Counter(r.status_code for r in responses) == {201: 10, 409: 20}
    refusals = [r.json() for r in responses if r.status_code == 409]
    assert {b["code"] for b in refusals} == {"insufficient_funds"}
    assert all(
        r["Content-Type"] == "application/problem+json" for r in responses if r.status_code == 409
    )
    assert seen and min(seen) >= 0
    balance = account_balance(wallet)
    assert balance["posted"]["balance"] == 0 and balance["available"] == 0
    # 1 funding + 10 spends: the 20 refusals wrote nothing.
    assert Transaction.objects.filter(program=program).count() == 11
    assert reconciliation_run(program=program).status == "clean"


def test_racing_spends_on_one_account_never_overdraw_with_pending_holds(program):
    """The same race one level down, mixing pending holds and posted spends through the
    service: whatever the interleaving, the stored available balance never goes below zero."""
    from config.platform.exceptions import InsufficientFunds

    account_create(
        program=program, code="user:eve:wallet", kind="liability", currency="INR", no_overdraft=True
    )
    transaction_create(
        program=program,
        postings=[
            PostingLine("program:rewards_expense", "debit", 500),
            PostingLine("user:eve:wallet", "credit", 500),
        ],
    )
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def spend(i: int) -> None:
        try:
            barrier.wait()
            transaction_create(
                program=program,
                postings=[
                    PostingLine("user:eve:wallet", "debit", 50),
                    PostingLine("program:payouts_clearing", "credit", 50),
                ],
                pending=bool(i % 2),
            )
            outcomes.append("ok")
        except InsufficientFunds:
            outcomes.append("refused")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(outcomes) == {"ok": 10, "refused": 10}
    wallet = Account.objects.get(program=program, code="user:eve:wallet")
    assert account_balance(wallet)["available"] == 0
    assert reconciliation_run(program=program).status == "clean"
