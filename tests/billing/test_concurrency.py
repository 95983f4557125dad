"""20 concurrent redeliveries of one provider event on PostgreSQL (real threads, committed
transactions): one delivery, one event, one effect."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from rules.billing.models import Delivery
from rules.models import Event
from rules.rewards.models import Reward
from tests.billing.conftest import charge_refunded, checkout, stripe_signature

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 20


def post_together(event: dict) -> list[tuple[int, bool]]:
    body = json.dumps(event)
    signature = stripe_signature(body)
    barrier = threading.Barrier(N)
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def run():
        try:
            client = Client()
            barrier.wait()
            r = client.post(
                "/hooks/stripe/acme",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature,
            )
            with lock:
                results.append((r.status_code, r.json().get("duplicate")))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_twenty_concurrent_redeliveries_have_one_effect(program, integrate, commission, referred):
    integrate()
    commission()
    results = post_together(checkout())
    assert sorted(results) == [(200, False)] + [(200, True)] * (N - 1)
    assert Delivery.objects.count() == 1
    assert Delivery.objects.get().status == "processed"
    assert Event.objects.filter(type="purchase").count() == 1
    assert list(Reward.objects.values_list("amount", "status")) == [(5000, "pending")]

    results = post_together(charge_refunded())
    assert sorted(results) == [(200, False)] + [(200, True)] * (N - 1)
    assert Event.objects.filter(type="refund").count() == 1
    assert list(Reward.objects.values_list("amount", "status")) == [(5000, "reversed")]


def test_racing_processors_apply_a_delivery_once(
    program, integrate, commission, referred, monkeypatch
):
    from rules.billing.services import handoff
    from rules.billing.services.processing import delivery_process

    integrate()
    commission()
    from tests.billing.conftest import post_stripe

    post_stripe(checkout())
    monkeypatch.setattr(handoff, "_enqueue", lambda pk: None)  # the threads process it
    post_stripe(charge_refunded(refunded=10000))
    delivery = Delivery.objects.get(event_type="charge.refunded")
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def run():
        try:
            barrier.wait()
            outcomes.append(delivery_process(delivery_pk=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["processed"] + ["skipped"] * 7
    assert list(Reward.objects.order_by("id").values_list("amount", "status")) == [
        (5000, "reversed"),
        (4000, "pending"),
    ]
