"""Concurrent retries of approve and execute (issue 11 review), on real threads against
PostgreSQL: each thread has its own key, client and database connection, and all start at the
same moment. However many retries race, a batch is approved once, by one person, and paid once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create, service_identity_get_or_create
from config.platform.models import AuditEntry
from ledger.models import Transaction
from rules.rewards.models import PayoutBatch, PayoutItem
from rules.rewards.services import payouts
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import CREATOR

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(keys: list[str], call: Callable[[APIClient, int], Any]) -> list[Any]:
    barrier = threading.Barrier(len(keys))
    results: list[Any] = [None] * len(keys)

    def run(i: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {keys[i]}")
        try:
            barrier.wait()
            results[i] = call(client, i)
        except Exception as exc:  # surfaced by the assertions below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _approver_key(program, name: str) -> str:
    owner, _ = service_identity_get_or_create(username=name, groups=("approvers",))
    return api_key_create(program=program, owner=owner)[1]


def _submitted(program, confirmed_reward) -> PayoutBatch:
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 2000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    for who in ("carol", "dave"):
        payouts.payout_item_add(batch=batch, beneficiary=who, actor=CREATOR)
    return payouts.payout_batch_submit(batch=batch, actor=CREATOR)


def _codes(responses) -> Counter:
    return Counter(
        r.status_code if not isinstance(r, Exception) else type(r).__name__ for r in responses
    )


def test_eight_approvers_racing_approve_once(program, confirmed_reward, url):
    batch = _submitted(program, confirmed_reward)
    keys = [_approver_key(program, f"approver-{i}") for i in range(8)]
    responses = _race(
        keys, lambda c, i: c.post(url(f"payout-batches/{batch.pk}/approve"), {}, format="json")
    )
    codes = _codes(responses)
    assert codes[200] == 1 and codes[409] == 7, codes
    batch.refresh_from_db()
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    assert batch.status == "approved" and batch.approved_by == f"user:approver-{winner}"
    assert AuditEntry.objects.filter(action="payout_batch.approved").count() == 1


def test_racing_approve_and_reject_leave_one_outcome(program, confirmed_reward, url):
    batch = _submitted(program, confirmed_reward)
    keys = [_approver_key(program, f"approver-{i}") for i in range(6)]

    def step(client: APIClient, i: int):
        if i % 2:
            return client.post(
                url(f"payout-batches/{batch.pk}/reject"), {"reason": "no"}, format="json"
            )
        return client.post(url(f"payout-batches/{batch.pk}/approve"), {}, format="json")

    codes = _codes(_race(keys, step))
    assert codes[200] >= 1 and codes[200] + codes[409] == 6, codes
    batch.refresh_from_db()
    assert batch.status in ("approved", "rejected")
    # Approved then rejected is a legal path (an approved batch may still be stopped); what
    # cannot happen is a second approval or a rejection undone.
    assert AuditEntry.objects.filter(action="payout_batch.approved").count() <= 1
    assert AuditEntry.objects.filter(action="payout_batch.rejected").count() <= 1


def test_eight_racing_executes_pay_once(program, confirmed_reward, api_key, url):
    batch = _submitted(program, confirmed_reward)
    payouts.payout_batch_approve(batch=batch, actor="user:bob")
    before = Transaction.objects.count()
    responses = _race(
        [api_key] * 8,
        lambda c, i: c.post(
            url(f"payout-batches/{batch.pk}/execute"),
            {},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"exec-{i}",  # distinct keys: real retries, not replays
        ),
    )
    codes = _codes(responses)
    assert set(codes) <= {200, 409}, codes
    assert codes[200] >= 1
    batch.refresh_from_db()
    assert batch.status == "executed"
    assert Transaction.objects.count() == before + 2  # one transfer per item, once
    assert PayoutItem.objects.filter(batch=batch, transaction__isnull=True).count() == 0
    assert AuditEntry.objects.filter(action="payout_batch.executed").count() == 1
    assert AuditEntry.objects.filter(action="reward.paid").count() == 2
