"""Stripe connector (SPEC section 13): signatures verified by the `stripe` SDK, payments to
events, refunds and disputes to refunds, idempotency by event id, the Done-when flow."""

from __future__ import annotations

import time

import pytest

from config.platform.models import AuditEntry
from rules.billing.models import Delivery
from rules.billing.services.processing import delivery_replay
from rules.links.models import Click
from rules.models import Event, Referral
from rules.rewards.models import Reward
from rules.services.participants import participant_get_or_create
from tests.billing.conftest import (
    STRIPE_SECRET,
    charge_refunded,
    checkout,
    fixture,
    post_stripe,
    stripe_signature,
)

pytestmark = pytest.mark.django_db(transaction=True)


def rewards(beneficiary: str = "alice") -> list[tuple[int, str]]:
    return list(
        Reward.objects.filter(beneficiary=beneficiary)
        .order_by("id")
        .values_list("amount", "status")
    )


# --- signatures -----------------------------------------------------------------------------


def test_a_valid_signature_is_stored_and_answered_200(program, integrate):
    integrate()
    r = post_stripe(checkout())
    assert r.status_code == 200 and r.json()["received"] is True
    assert r.json()["duplicate"] is False
    delivery = Delivery.objects.get()
    assert delivery.provider_event_id == "evt_checkout_1"
    assert delivery.headers["Stripe-Signature"].startswith("t=")
    assert delivery.status == "processed"


@pytest.mark.parametrize(
    "case",
    ["bad", "stale", "future", "wrong_secret", "missing", "garbage"],
)
def test_a_refused_signature_is_400_and_writes_nothing(program, integrate, case):
    integrate()
    event = checkout()
    kwargs: dict = {}
    if case == "bad":
        kwargs["signature"] = f"t={int(time.time())},v1={'0' * 64}"
    elif case == "stale":
        kwargs["at"] = int(time.time()) - 301
    elif case == "future":
        kwargs["at"] = int(time.time()) + 3600
    elif case == "wrong_secret":
        kwargs["secret"] = "whsec_someone_elses_secret_000"
    elif case == "missing":
        kwargs["signature"] = ""
    else:
        kwargs["signature"] = "nonsense"
    audit_before = AuditEntry.objects.count()
    r = post_stripe(event, **kwargs)
    assert r.status_code == 400, r.content
    assert r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "validation_error"
    assert not Delivery.objects.exists() and not Event.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_a_signature_within_five_minutes_is_accepted(program, integrate):
    integrate()
    assert post_stripe(checkout(), at=int(time.time()) - 280).status_code == 200


def test_a_tampered_body_is_refused(program, integrate):
    integrate()
    from django.test import Client

    event = checkout()
    import json

    body = json.dumps(event)
    signature = stripe_signature(body)
    r = Client().post(
        "/hooks/stripe/acme",
        data=body.replace("50000", "99999"),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    assert r.status_code == 400 and not Delivery.objects.exists()


def test_unknown_program_provider_or_integration_is_404(program, integrate):
    assert post_stripe(checkout()).status_code == 404  # no integration yet
    integrate()
    assert post_stripe(checkout(), program="nope").status_code == 404
    from django.test import Client

    r = Client().post("/hooks/braintree/acme", data="{}", content_type="application/json")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert not Delivery.objects.exists()


# --- the Done-when flow ---------------------------------------------------------------------


def test_checkout_with_click_pays_the_referrer_and_its_refund_reverses_it(
    program, integrate, commission
):
    """A Stripe checkout.session.completed with the rl_click id as client_reference_id gives
    the referrer (whose link was clicked) 10%; the matching charge.refunded reverses it."""
    integrate()
    commission()
    alice = participant_get_or_create(program=program, external_id="alice", actor="t")[0]
    click = Click.objects.create(program=program, participant=alice, visitor_hash="v1")
    event = checkout(client_reference_id=str(click.id), metadata={"participant": "bob"})
    assert post_stripe(event).status_code == 200

    delivery = Delivery.objects.get()
    assert delivery.status == "processed", delivery.reason
    assert delivery.event_id == "stripe:evt_checkout_1"
    stored = Event.objects.get(event_id="stripe:evt_checkout_1")
    assert stored.type == "purchase" and stored.status == "processed"
    assert stored.participant.external_id == "bob"
    assert stored.data == {
        "amount": 50000,
        "currency": "INR",
        "provider": "stripe",
        "provider_ids": {
            "customer": "cus_bob",
            "checkout_session": "cs_test_a1B2c3D4e5F6g7H8",
            "payment_intent": "pi_1",
        },
    }
    assert (stored.attribution or {})["status"] == "attributed"
    assert Referral.objects.get(referred__external_id="bob").referrer.external_id == "alice"
    assert rewards() == [(5000, "pending")]

    assert post_stripe(charge_refunded()).status_code == 200
    refund = Delivery.objects.get(provider_event_id="evt_refund_1")
    assert refund.status == "processed", refund.reason
    assert rewards() == [(5000, "reversed")]
    refund_event = Event.objects.get(event_id="stripe:evt_refund_1")
    assert refund_event.type == "refund"
    assert refund_event.data["payment_event"] == "stripe:evt_checkout_1"
    assert refund_event.data["reason"] == "refund"
    # The event says who moved the rewards, not "nothing to reverse".
    refund_event.refresh_from_db()
    assert refund_event.refund is not None
    assert refund_event.refund["original_event"] == "stripe:evt_checkout_1"
    assert "billing connector" in refund_event.refund["note"]


def test_a_redelivery_is_200_and_changes_nothing(program, integrate, commission, referred):
    integrate()
    commission()
    assert post_stripe(checkout()).status_code == 200
    again = post_stripe(checkout())
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Delivery.objects.count() == 1 and Event.objects.filter(type="purchase").count() == 1
    assert rewards() == [(5000, "pending")]
    post_stripe(charge_refunded())
    post_stripe(charge_refunded())
    assert Delivery.objects.count() == 2
    assert rewards() == [(5000, "reversed")]


def test_a_refund_before_its_payment_is_kept_and_applied_when_it_arrives(
    program, integrate, commission, referred
):
    integrate()
    commission()
    assert post_stripe(charge_refunded()).status_code == 200
    waiting = Delivery.objects.get()
    assert waiting.status == "received" and waiting.waiting_for == "pi_1"
    assert "waiting" in waiting.reason
    assert not Event.objects.filter(type="refund").exists()

    post_stripe(checkout())
    waiting.refresh_from_db()
    assert waiting.status == "processed", waiting.reason
    assert rewards() == [(5000, "reversed")]


def test_a_partial_refund_reduces_the_commission_proportionally(
    program, integrate, commission, referred
):
    integrate()
    commission()
    post_stripe(checkout(amount=50000))
    # 10,000 of 50,000 refunded: the 5,000 commission keeps 4/5.
    post_stripe(charge_refunded(event_id="evt_r1", refunded=10000))
    assert rewards() == [(5000, "reversed"), (4000, "pending")]
    replacement = Reward.objects.get(amount=4000)
    assert replacement.metadata["billing_payment"] == "stripe:evt_checkout_1"
    # Another 15,000 (25,000 in all): half is kept.
    post_stripe(charge_refunded(event_id="evt_r2", refunded=25000, latest=15000))
    assert rewards() == [(5000, "reversed"), (4000, "reversed"), (2500, "pending")]
    # The rest: nothing is kept.
    post_stripe(charge_refunded(event_id="evt_r3", refunded=50000, latest=25000))
    assert [s for _, s in rewards()] == ["reversed"] * 3


def test_a_partial_refund_of_a_confirmed_reward_keeps_the_share_confirmed(
    program, integrate, commission, referred
):
    from rules.rewards.services.rewards import reward_confirm

    integrate()
    commission()
    post_stripe(checkout(amount=50000))
    reward_confirm(reward=Reward.objects.get(), actor="test")
    post_stripe(charge_refunded(refunded=20000))
    assert rewards() == [(5000, "reversed"), (3000, "confirmed")]


def _pay_out(program, beneficiary: str) -> None:
    from rules.rewards.services import payouts
    from rules.rewards.services.rewards import reward_confirm

    for reward in Reward.objects.filter(beneficiary=beneficiary, status="pending"):
        reward_confirm(reward=reward, actor="test")
    batch = payouts.payout_batch_create(program=program, actor="user:maker")
    payouts.payout_item_add(batch=batch, beneficiary=beneficiary, actor="user:maker")
    payouts.payout_batch_submit(batch=batch, actor="user:maker")
    payouts.payout_batch_approve(batch=batch, actor="user:checker")
    payouts.payout_batch_execute(batch=batch, actor="user:checker")


def test_a_dispute_claws_back_a_paid_commission(program, integrate, commission, referred):
    integrate()
    commission()
    post_stripe(checkout())
    _pay_out(program, "alice")
    assert rewards() == [(5000, "paid")]
    assert post_stripe(fixture_dispute()).status_code == 200
    delivery = Delivery.objects.get(event_type="charge.dispute.created")
    assert delivery.status == "processed", delivery.reason
    assert rewards() == [(5000, "clawed_back")]
    assert Event.objects.get(event_id=delivery.event_id).data["reason"] == "dispute"


def test_a_partial_refund_of_a_paid_commission_claws_back_and_keeps_the_share(
    program, integrate, commission, referred
):
    integrate()
    commission()
    post_stripe(checkout())
    _pay_out(program, "alice")
    post_stripe(charge_refunded(refunded=25000))
    assert rewards() == [(5000, "clawed_back"), (2500, "confirmed")]


def fixture_dispute():
    event = fixture("stripe_charge_dispute_created")
    event["data"]["object"]["payment_intent"] = "pi_1"
    return event


def test_a_dispute_reverses_an_unpaid_commission(program, integrate, commission, referred):
    integrate()
    commission()
    post_stripe(checkout())
    post_stripe(fixture_dispute())
    assert rewards() == [(5000, "reversed")]


def test_record_only_records_the_refund_and_moves_no_reward(
    program, integrate, commission, referred
):
    integrate(policy="record_only")
    commission()
    post_stripe(checkout())
    post_stripe(charge_refunded())
    delivery = Delivery.objects.get(event_type="charge.refunded")
    assert delivery.status == "processed" and "record_only" in delivery.reason
    assert Event.objects.filter(type="refund").count() == 1
    assert rewards() == [(5000, "pending")]


# --- subscriptions ----------------------------------------------------------------------------


def invoice(event_id: str, reason: str, *, number: int) -> dict:
    event = fixture("stripe_invoice_paid")
    event["id"] = event_id
    obj = event["data"]["object"]
    obj.update(
        id=f"in_{number}",
        billing_reason=reason,
        customer="cus_bob",
        payment_intent=f"pi_inv_{number}",
        charge=f"ch_inv_{number}",
    )
    return event


def test_invoices_become_subscription_started_and_renewed_for_the_same_user(
    program, integrate, commission, referred
):
    integrate()
    commission("subscription_started", "subscription_renewed")
    post_stripe(invoice("evt_inv_1", "subscription_create", number=1))
    post_stripe(invoice("evt_inv_2", "subscription_cycle", number=2))
    events = {e.type: e for e in Event.objects.filter(data__provider="stripe")}
    assert (
        events["subscription_started"].event_id
        == "stripe:subscription:sub_1QSubscription0001:started"
    )
    assert events["subscription_renewed"].event_id == "stripe:evt_inv_2"
    # The invoice's customer email names bob; the renewal finds him again.
    assert {e.participant.external_id for e in events.values()} == {"bob@example.com"}


def test_a_subscription_checkout_and_its_first_invoice_record_one_event(
    program, integrate, commission
):
    integrate()
    commission("subscription_started")
    event = checkout(metadata={"participant": "bob"})
    event["data"]["object"].update(mode="subscription", subscription="sub_1QSubscription0001")
    post_stripe(event)
    post_stripe(invoice("evt_inv_1", "subscription_create", number=1))
    assert Event.objects.filter(type="subscription_started").count() == 1
    first_invoice = Delivery.objects.get(provider_event_id="evt_inv_1")
    assert first_invoice.status == "processed"
    assert "already recorded" in first_invoice.reason


def test_an_unmapped_event_is_logged_as_ignored(program, integrate):
    integrate()
    event = checkout()
    event["type"] = "customer.created"
    assert post_stripe(event).status_code == 200
    delivery = Delivery.objects.get()
    assert delivery.status == "ignored" and "not an event" in delivery.reason


def test_a_payment_in_another_currency_is_ignored_with_why(program, integrate):
    integrate()
    event = checkout()
    event["data"]["object"]["currency"] = "usd"
    post_stripe(event)
    delivery = Delivery.objects.get()
    assert delivery.status == "ignored" and "USD" in delivery.reason
    assert not Event.objects.exists()


# --- replay -----------------------------------------------------------------------------------


def test_replay_reprocesses_from_the_stored_body_and_pays_nothing_twice(
    program, integrate, commission, referred
):
    integrate()
    commission()
    post_stripe(checkout())
    delivery = Delivery.objects.get()
    delivery_replay(delivery=delivery, actor="user:ops")
    delivery.refresh_from_db()
    assert delivery.status == "processed"
    assert rewards() == [(5000, "pending")]
    entry = AuditEntry.objects.get(action="billing.delivery.replayed")
    assert entry.actor == "user:ops" and (entry.before or {})["status"] == "processed"


def test_the_mapping_renames_event_types(program, integrate, commission):
    """An integration's mapping names the trigger a payment becomes."""
    integrate(mapping={"event_types": {"purchase": "order_paid"}})
    commission("order_paid")
    event = checkout(metadata={"participant": "bob", "referral_code": "nobody"})
    post_stripe(event)
    delivery = Delivery.objects.get()
    assert delivery.status == "processed"
    assert Event.objects.get(event_id=delivery.event_id).type == "order_paid"


def test_sweep_processes_a_delivery_whose_hand_off_was_lost(program, integrate, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from rules.billing import tasks
    from rules.billing.services import handoff

    integrate()
    monkeypatch.setattr(handoff, "_enqueue", lambda pk: None)  # the hand-off is lost
    post_stripe(checkout(metadata={"participant": "bob"}))
    delivery = Delivery.objects.get()
    assert delivery.status == "received"
    assert tasks.deliveries_sweep(inline=True) == 0  # not yet: within the grace period
    Delivery.objects.filter(pk=delivery.pk).update(
        received_at=timezone.now() - timedelta(minutes=2)
    )
    assert tasks.deliveries_sweep(inline=True) == 1
    delivery.refresh_from_db()
    assert delivery.status == "processed"


def test_the_secret_is_stored_encrypted(program, integrate):
    integration = integrate()
    assert STRIPE_SECRET not in integration.signing_secret_encrypted
    assert integration.secret_hint == "••••CRET"
