"""The hand-off after commit: with a broker, a failed publish leaves the delivery due for the
sweep; a refund whose payment's event is not processed yet is retried, not lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rules.billing import tasks
from rules.billing.models import Delivery
from rules.models import Event
from rules.rewards.models import Reward
from tests.billing.conftest import charge_refunded, checkout, post_stripe

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failed_publish_makes_the_delivery_due_for_the_sweep(
    program, integrate, settings, monkeypatch
):
    integrate()
    settings.CELERY_BROKER_URL = "memory://"

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.process_delivery, "apply_async", broken)
    assert post_stripe(checkout()).status_code == 200  # the provider still gets its 200
    delivery = Delivery.objects.get()
    assert delivery.status == "received"
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at <= timezone.now()
    # The sweep runs here, and so do the events it makes: with "memory://" still set they
    # would be published through Celery's in-memory transport, and the app would keep that
    # connection for the tests after this one.
    settings.CELERY_BROKER_URL = ""
    assert tasks.deliveries_sweep(inline=True) == 1
    delivery.refresh_from_db()
    assert delivery.status == "processed", delivery.reason


def test_with_a_broker_a_stored_delivery_waits_out_its_lease(
    program, integrate, settings, monkeypatch
):
    integrate()
    settings.CELERY_BROKER_URL = "memory://"
    sent: list = []
    monkeypatch.setattr(tasks.process_delivery, "apply_async", lambda args, **kw: sent.append(args))
    post_stripe(checkout())
    delivery = Delivery.objects.get()
    assert sent == [(delivery.pk,)]
    lease = delivery.next_attempt_at
    assert lease is not None and lease > timezone.now()  # the sweep leaves it to the worker
    assert tasks.deliveries_sweep(inline=True) == 0


def test_a_refund_waits_for_its_payments_event_to_be_processed(
    program, integrate, commission, referred, monkeypatch
):
    from rules.services import handoff as event_handoff
    from rules.services.processing import event_process

    integrate()
    commission()
    monkeypatch.setattr(event_handoff, "_enqueue", lambda pk, **kw: None)  # events wait
    post_stripe(checkout())
    post_stripe(charge_refunded())
    refund = Delivery.objects.get(event_type="charge.refunded")
    assert refund.status == "received" and "not processed yet" in refund.reason
    assert refund.next_attempt_at is not None

    purchase = Event.objects.get(type="purchase")
    event_process(event_pk=purchase.pk)
    assert list(Reward.objects.values_list("status", flat=True)) == ["pending"]
    Delivery.objects.filter(pk=refund.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    monkeypatch.undo()
    assert tasks.deliveries_sweep(inline=True) == 1
    refund.refresh_from_db()
    assert refund.status == "processed", refund.reason
    assert list(Reward.objects.values_list("status", flat=True)) == ["reversed"]
