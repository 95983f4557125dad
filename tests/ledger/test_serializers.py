"""ledger.serializers.validated / rendered reuse one bound serializer per class and thread:
the results must be exactly those of a fresh DRF serializer, errors included."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from config.platform.api.serializers import rendered, rendered_many, validated
from ledger.models import Transaction
from ledger.serializers import TransactionCreateSerializer, TransactionSerializer
from rules.rewards.apis.rewards import RewardCreateSerializer, RewardSerializer
from rules.rewards.models import Reward
from rules.rewards.selectors import user_balance
from rules.rewards.services.rewards import reward_create

GOOD = {"beneficiary": "alice", "amount": 5000, "currency": "INR", "reward_type": "cash"}
BAD = [
    {**GOOD, "amount": 1.5},
    {**GOOD, "amount": 0},
    {**GOOD, "ammount": 5},
    {"beneficiary": "a b"},
    {**GOOD, "metadata": []},
    [],
    None,
    "text",
]
POSTINGS_BAD = {"postings": [{"account": "x", "direction": "up", "amount": -1}, {}]}


def _fresh(serializer_class, data):
    serializer = serializer_class(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except serializers.ValidationError as exc:
        return "error", exc.detail
    return "ok", serializer.validated_data


def _reused(serializer_class, data):
    try:
        return "ok", validated(serializer_class, data)
    except serializers.ValidationError as exc:
        return "error", exc.detail


@pytest.mark.parametrize("data", [GOOD, {**GOOD, "metadata": {"a": 1}}, *BAD])
def test_validated_matches_a_fresh_serializer(data):
    kind, result = _reused(RewardCreateSerializer, data)
    assert (kind, result) == _fresh(RewardCreateSerializer, data)
    # The second call on the same (reused) instance gives the same again: no state kept.
    assert _reused(RewardCreateSerializer, data) == (kind, result)


def test_validated_matches_for_nested_lists():
    assert _reused(TransactionCreateSerializer, POSTINGS_BAD) == _fresh(
        TransactionCreateSerializer, POSTINGS_BAD
    )
    good = {
        "postings": [
            {"account": "a", "direction": "debit", "amount": 1},
            {"account": "b", "direction": "credit", "amount": 1},
        ]
    }
    assert _reused(TransactionCreateSerializer, good) == _fresh(TransactionCreateSerializer, good)


def test_validation_error_of_one_call_does_not_leak_into_the_next():
    assert _reused(RewardCreateSerializer, {**GOOD, "amount": 0})[0] == "error"
    assert _reused(RewardCreateSerializer, GOOD) == ("ok", _fresh(RewardCreateSerializer, GOOD)[1])


@pytest.mark.django_db
def test_rendered_matches_a_fresh_serializer(program):
    reward_create(
        program=program,
        actor="t",
        beneficiary="alice",
        amount=10,
        currency="INR",
        reward_type="cash",
    )
    reward_create(
        program=program, actor="t", beneficiary="bob", amount=20, currency="INR", reward_type="cash"
    )
    rewards = list(Reward.objects.prefetch_related("history").order_by("pk"))
    assert rendered(RewardSerializer, rewards[0]) == RewardSerializer(rewards[0]).data
    assert rendered_many(RewardSerializer, rewards) == RewardSerializer(rewards, many=True).data
    txns = list(Transaction.objects.prefetch_related("postings__account"))
    assert rendered_many(TransactionSerializer, txns) == TransactionSerializer(txns, many=True).data


def test_each_thread_gets_its_own_instance():
    seen = []

    def grab():
        validated(RewardCreateSerializer, GOOD)
        from config.platform.api.serializers import _prototypes

        cache: dict[Any, Any] = _prototypes.__dict__  # keyed by class, as _prototype() keys it
        seen.append(id(cache[RewardCreateSerializer]))

    threads = [threading.Thread(target=grab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 2


@pytest.mark.django_db
def test_user_balance_is_one_statement(program):
    reward_create(
        program=program,
        actor="t",
        beneficiary="alice",
        amount=10,
        currency="INR",
        reward_type="cash",
    )
    with CaptureQueriesContext(connection) as queries:
        balance = user_balance(program=program, external_id="alice")
    assert len(queries) == 1
    assert balance == {"user": "alice", "currency": "INR", "pending": 10, "available": 0, "paid": 0}
