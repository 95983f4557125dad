"""Paddle Billing connector (SPEC section 13): `Paddle-Signature: ts=…;h1=…` verified by the
paddle-python-sdk Verifier; transaction.completed → purchase, approved refund and chargeback
adjustments → refund."""

from __future__ import annotations

import time

import pytest

from rules.billing.models import Delivery
from rules.models import Event
from rules.rewards.models import Reward
from tests.billing.conftest import fixture, post_paddle

pytestmark = pytest.mark.django_db(transaction=True)


def transaction(**custom) -> dict:
    event = fixture("paddle_transaction_completed")
    event["data"]["custom_data"] = {"participant": "bob", **custom}
    return event


def adjustment(*, event_id="evt_adj_1", action="refund", status="approved", total="30000"):
    event = fixture("paddle_adjustment_created")
    event["event_id"] = event_id
    event["data"].update(action=action, status=status)
    event["data"]["totals"]["total"] = total
    return event


def amounts() -> list[tuple[int, str]]:
    return list(
        Reward.objects.filter(beneficiary="alice").order_by("id").values_list("amount", "status")
    )


def test_a_completed_transaction_pays_the_commission_and_its_refund_reverses_it(
    program, integrate, commission, referred
):
    integrate("paddle")
    commission()
    r = post_paddle(transaction())
    assert r.status_code == 200, r.content
    delivery = Delivery.objects.get()
    assert delivery.status == "processed", delivery.reason
    event = Event.objects.get(event_id="paddle:evt_01hv8x2acma2gz0e1k1p7q9bdv")
    assert event.type == "purchase" and event.data["amount"] == 30000
    assert event.data["provider_ids"]["transaction"] == "txn_01hv8wptq8987qeep44cyrewp9"
    assert amounts() == [(3000, "pending")]

    assert post_paddle(adjustment()).status_code == 200
    assert amounts() == [(3000, "reversed")]
    refund = Event.objects.get(type="refund")
    assert refund.event_id == "paddle:adjustment:adj_01hv9adjustment0000000001"


def test_click_id_in_custom_data_attributes_the_payment(program, integrate, commission):
    from rules.links.models import Click
    from rules.services.participants import participant_get_or_create

    integrate("paddle")
    commission()
    alice = participant_get_or_create(program=program, external_id="alice", actor="t")[0]
    click = Click.objects.create(program=program, participant=alice, visitor_hash="v")
    post_paddle(transaction(click_id=str(click.id)))
    assert amounts() == [(3000, "pending")]


@pytest.mark.parametrize("case", ["bad", "stale", "wrong_secret", "garbage", "missing"])
def test_a_refused_signature_is_400_and_writes_nothing(program, integrate, case):
    from django.test import Client

    integrate("paddle")
    if case == "stale":
        r = post_paddle(transaction(), at=int(time.time()) - 301)
    elif case == "wrong_secret":
        r = post_paddle(transaction(), secret="pdl_ntfset_another_secret_0000")
    else:
        header = {"bad": f"ts={int(time.time())};h1={'0' * 64}", "garbage": "x=1;y"}.get(case)
        r = Client().post(
            "/hooks/paddle/acme",
            data="{}",
            content_type="application/json",
            headers={"Paddle-Signature": header} if header else None,
        )
    assert r.status_code == 400, r.content
    assert r["Content-Type"] == "application/problem+json"
    assert not Delivery.objects.exists() and not Event.objects.exists()


def test_a_refund_pending_approval_waits_for_the_approved_update(
    program, integrate, commission, referred
):
    integrate("paddle")
    commission()
    post_paddle(transaction())
    post_paddle(adjustment(event_id="evt_adj_created", status="pending_approval"))
    created = Delivery.objects.get(provider_event_id="evt_adj_created")
    assert created.status == "ignored" and "approves" in created.reason
    assert amounts() == [(3000, "pending")]
    updated = adjustment(event_id="evt_adj_updated")
    updated["event_type"] = "adjustment.updated"
    post_paddle(updated)
    assert amounts() == [(3000, "reversed")]


def test_a_partial_chargeback_and_a_credit(program, integrate, commission, referred):
    integrate("paddle")
    commission()
    post_paddle(transaction())
    post_paddle(adjustment(event_id="evt_credit", action="credit"))
    assert Delivery.objects.get(provider_event_id="evt_credit").status == "ignored"
    post_paddle(adjustment(event_id="evt_cb", action="chargeback", total="15000"))
    assert amounts() == [(3000, "reversed"), (1500, "pending")]
    assert Event.objects.get(type="refund").data["reason"] == "chargeback"


def test_a_refund_before_its_transaction_is_applied_when_it_arrives(
    program, integrate, commission, referred
):
    integrate("paddle")
    commission()
    post_paddle(adjustment())
    waiting = Delivery.objects.get()
    assert waiting.status == "received"
    assert waiting.waiting_for == "txn_01hv8wptq8987qeep44cyrewp9"
    post_paddle(transaction())
    waiting.refresh_from_db()
    assert waiting.status == "processed", waiting.reason
    assert amounts() == [(3000, "reversed")]


def test_a_renewal_is_subscription_renewed(program, integrate, commission, referred):
    integrate("paddle")
    commission("subscription_renewed")
    event = transaction()
    event["data"].update(origin="subscription_recurring", subscription_id="sub_01hv")
    post_paddle(event)
    assert Event.objects.get(event_id__startswith="paddle:").type == "subscription_renewed"
    assert amounts() == [(3000, "pending")]
