"""The `paypal` rail through the official `paypal-server-sdk` against the local PayPal stub."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from rules.rewards.rails.base import RailItem, RailResult, idempotency_key_for, rail_get
from rules.rewards.rails.paypal import PayPalRail, item_result, result_from_webhook
from rules.rewards.rails.providers import (
    RailUnavailable,
    decimal_string_to_minor,
    minor_to_decimal_string,
)
from tests.rails.stub_servers import PayPalOutcome

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rails" / "paypal"


def item(item_id=41, *, amount=1234, currency="USD", email="partner@example.com", method=None):
    return RailItem(
        item_id=item_id,
        idempotency_key=idempotency_key_for(item_id),
        amount=amount,
        currency=currency,
        method=method or "paypal",
        details={"email": email},
        participant_external_id="partner-a",
        note="Referral rewards, November",
    )


@pytest.fixture
def rail(paypal_stub):
    return PayPalRail()


def payout_bodies(stub):
    return [json.loads(c.body) for c in stub.calls("POST", "/v1/payments/payouts")]


def test_the_registered_rail_sends_then_poll_says_paid(paypal_stub):
    rail = rail_get("paypal")
    [sent] = rail.send(program_id=7, batch_id=3, items=[item()])

    assert (sent.item_id, sent.status) == (41, "sent")
    [body] = payout_bodies(paypal_stub)
    assert body["sender_batch_header"]["sender_batch_id"] == "payout-item-41"
    assert body["items"] == [
        {
            "recipient_type": "EMAIL",
            "amount": {"value": "12.34", "currency": "USD"},
            "note": "Referral rewards, November",
            "sender_item_id": "41",
            "receiver": "partner@example.com",
        }
    ]
    [call] = paypal_stub.calls("POST", "/v1/payments/payouts")
    assert call.headers["paypal-request-id"] == "payout-item-41"
    assert call.headers["authorization"].startswith("Bearer A21AA")
    assert call.client == "127.0.0.1" and urlsplit(paypal_stub.url).hostname == "127.0.0.1"

    paypal_stub.settle()
    assert rail.poll(program_id=7, provider_refs=[sent.provider_ref]) == [
        RailResult(item_id=41, status="paid", provider_ref=sent.provider_ref)
    ]


def test_the_oauth_token_is_fetched_once_and_reused(rail, paypal_stub):
    rail.send(program_id=7, batch_id=3, items=[item(1), item(2)])
    rail.poll(program_id=7, provider_refs=[])
    rail.send(program_id=7, batch_id=4, items=[item(3)])

    [token_call] = paypal_stub.calls("POST", "/v1/oauth2/token")
    assert token_call.headers["authorization"].startswith("Basic ")
    assert token_call.body == b"grant_type=client_credentials"
    assert len(paypal_stub.calls("POST", "/v1/payments/payouts")) == 3


@pytest.mark.parametrize(
    "amount,currency,value",
    [(1234, "USD", "12.34"), (5, "EUR", "0.05"), (1234, "JPY", "1234"), (1234, "BHD", "1.234")],
)
def test_amounts_are_decimal_strings_with_the_currencys_exponent(amount, currency, value):
    assert minor_to_decimal_string(amount, currency) == value
    assert decimal_string_to_minor(value, currency) == amount


def test_a_yen_amount_reaches_paypal_without_decimals(rail, paypal_stub):
    rail.send(program_id=7, batch_id=3, items=[item(amount=1500, currency="JPY")])
    [body] = payout_bodies(paypal_stub)
    assert body["items"][0]["amount"] == {"value": "1500", "currency": "JPY"}


def test_the_same_key_twice_makes_one_payout(rail, paypal_stub):
    first = rail.send(program_id=7, batch_id=3, items=[item()])
    again = rail.send(program_id=7, batch_id=3, items=[item(), item(42, email="b@example.com")])

    assert again[0] == first[0]
    assert len(paypal_stub.items_to("partner@example.com")) == 1
    assert len(paypal_stub.batches) == 2


def test_a_failed_item_fails_with_paypals_reason(rail, paypal_stub):
    paypal_stub.outcomes["closed@example.com"] = PayPalOutcome(
        "FAILED", "RECEIVER_ACCOUNT_LOCKED", "Receiver's account is locked or inactive"
    )
    sent = rail.send(program_id=7, batch_id=3, items=[item(1), item(2, email="closed@example.com")])
    paypal_stub.settle()

    results = rail.poll(program_id=7, provider_refs=[r.provider_ref for r in sent])

    assert [(r.item_id, r.status) for r in results] == [(1, "paid"), (2, "failed")]
    assert results[1].reason == (
        "FAILED: RECEIVER_ACCOUNT_LOCKED: Receiver's account is locked or inactive"
    )


def test_a_returned_payment_turns_a_paid_item_failed(rail, paypal_stub):
    [sent] = rail.send(program_id=7, batch_id=3, items=[item()])
    paypal_stub.settle()
    assert rail.poll(program_id=7, provider_refs=[sent.provider_ref])[0].status == "paid"

    paypal_stub.set_status(
        "partner@example.com",
        PayPalOutcome("RETURNED", "RECEIVER_UNREGISTERED", "Funds were returned after 30 days."),
    )
    [returned] = rail.poll(program_id=7, provider_refs=[sent.provider_ref])

    assert returned.status == "failed"
    assert returned.reason.startswith("RETURNED: RECEIVER_UNREGISTERED")


def test_unclaimed_waits_for_its_window_then_fails(paypal_stub, settings):
    settings.PAYPAL_UNCLAIMED_DAYS = 30
    paypal_stub.outcomes["new@example.com"] = PayPalOutcome(
        "UNCLAIMED", "RECEIVER_UNREGISTERED", "Receiver is unregistered."
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rail = PayPalRail(clock=lambda: now)
    [sent] = rail.send(program_id=7, batch_id=3, items=[item(email="new@example.com")])
    paypal_stub.settle(time_processed="2026-11-15T10:00:00Z")

    [waiting] = rail.poll(program_id=7, provider_refs=[sent.provider_ref])
    assert waiting.status == "sent" and waiting.reason.startswith("UNCLAIMED")

    now = datetime(2026, 12, 16, tzinfo=UTC)
    [expired] = rail.poll(program_id=7, provider_refs=[sent.provider_ref])
    assert expired.status == "failed"
    assert expired.reason.startswith("UNCLAIMED for more than 30 days")


def test_pending_items_stay_sent(rail, paypal_stub):
    [sent] = rail.send(program_id=7, batch_id=3, items=[item()])
    [result] = rail.poll(program_id=7, provider_refs=[sent.provider_ref])
    assert (result.status, result.reason) == ("sent", "PENDING")


def test_insufficient_funds_fails_the_item_at_once(rail, paypal_stub):
    paypal_stub.balance["USD"] = 10.0

    results = rail.send(program_id=7, batch_id=3, items=[item(1, amount=600), item(2, amount=600)])

    assert [r.status for r in results] == ["sent", "failed"]
    assert results[1].reason == (
        "INSUFFICIENT_FUNDS: Sender does not have sufficient funds. Please add funds and retry."
    )


def test_an_invalid_receiver_fails_with_the_validation_details(rail, paypal_stub):
    [result] = rail.send(program_id=7, batch_id=3, items=[item(email="not-an-email")])

    assert result.status == "failed"
    assert result.reason == (
        "VALIDATION_ERROR: Invalid request - see details "
        "(items[0].receiver: Receiver is invalid or does not match with type)"
    )


def test_an_item_without_a_paypal_email_fails_without_a_call(rail, paypal_stub):
    [result] = rail.send(program_id=7, batch_id=3, items=[item(method="stripe_connect")])
    assert result.status == "failed"
    assert paypal_stub.calls("POST", "/v1/payments/payouts") == []


def test_an_outage_decides_nothing_and_the_retry_pays_once(rail, paypal_stub):
    paypal_stub.fail_next = [503]
    with pytest.raises(RailUnavailable, match="INTERNAL_SERVICE_ERROR"):
        rail.send(program_id=7, batch_id=3, items=[item()])

    [result] = rail.send(program_id=7, batch_id=3, items=[item()])
    assert result.status == "sent"
    assert len(paypal_stub.batches) == 1


def test_refused_credentials_are_an_outage_not_a_failed_item(paypal_stub, settings):
    settings.PAYPAL_CLIENT_SECRET = "wrong"
    with pytest.raises(RailUnavailable, match="credentials"):
        PayPalRail().send(program_id=7, batch_id=3, items=[item()])
    settings.PAYPAL_CLIENT_ID = ""
    with pytest.raises(RailUnavailable, match="PAYPAL_CLIENT_ID"):
        PayPalRail().send(program_id=7, batch_id=3, items=[item()])
    assert paypal_stub.calls("POST", "/v1/payments/payouts") == []


def test_a_sender_batch_id_paypal_remembers_is_no_decision(rail, paypal_stub):
    rail.send(program_id=7, batch_id=3, items=[item()])
    paypal_stub.by_request_id.clear()  # PayPal keeps request ids for hours, batch ids for 30 days

    with pytest.raises(RailUnavailable, match="already used"):
        rail.send(program_id=7, batch_id=3, items=[item()])
    assert len(paypal_stub.batches) == 1


def test_poll_skips_a_batch_paypal_does_not_know(rail, paypal_stub):
    assert rail.poll(program_id=7, provider_refs=["NOSUCHBATCH"]) == []


def test_the_documented_batch_maps_each_status():
    batch = json.loads((FIXTURES / "payouts_batch.json").read_text())
    now = datetime(2026, 11, 10, tzinfo=UTC)

    results = [item_result(i, unclaimed_days=30, now=now) for i in batch["items"]]

    assert [(r.item_id, r.status) for r in results if r] == [
        (41, "paid"),
        (42, "failed"),
        (43, "failed"),
        (44, "sent"),
        (45, "failed"),
        (46, "sent"),
    ]
    assert results[2] and results[2].reason.startswith("RETURNED: RECEIVER_UNREGISTERED")
    assert results[4] and results[4].reason.startswith("BLOCKED: RISK_DECLINE")


def test_the_stub_answers_with_paypals_documented_fields(rail, paypal_stub):
    [sent] = rail.send(program_id=7, batch_id=3, items=[item()])
    paypal_stub.outcomes["closed@example.com"] = PayPalOutcome("FAILED", "X", "y")
    paypal_stub.balance["USD"] = 0.0
    rail.send(program_id=7, batch_id=3, items=[item(2, email="closed@example.com")])
    paypal_stub.balance["USD"] = 1e9
    rail.send(program_id=7, batch_id=3, items=[item(3, email="bad")])

    def fixture(name):
        return json.loads((FIXTURES / name).read_text())

    token = requests.post(
        f"{paypal_stub.url}/v1/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(paypal_stub.client_id, paypal_stub.client_secret),
        timeout=5,
    )
    assert token.status_code == 200 and set(fixture("oauth_token.json")) <= set(token.json())
    answers = list(paypal_stub.by_request_id.values())
    assert answers[0][0] == 201 and set(fixture("payouts_create.json")) <= set(answers[0][1])
    assert set(fixture("payouts_create.json")["batch_header"]) <= set(answers[0][1]["batch_header"])
    assert answers[1][0] == 422
    assert set(fixture("error_insufficient_funds.json")) <= set(answers[1][1])
    assert answers[2][0] == 400 and set(fixture("error_validation.json")) <= set(answers[2][1])

    paypal_stub.settle()
    stub_batch = paypal_stub._batch_json(paypal_stub.batches[sent.provider_ref])
    documented = fixture("payouts_batch.json")
    assert set(documented) <= set(stub_batch)
    stub_item = stub_batch["items"][0]
    required = set(documented["items"][0]) - {"transaction_id", "activity_id", "payout_item_fee"}
    assert required <= set(stub_item)
    assert set(documented["items"][0]["payout_item"]) <= set(stub_item["payout_item"])


def test_a_payouts_item_webhook_is_the_items_result():
    event = json.loads((FIXTURES / "webhook_payouts_item_returned.json").read_text())
    now = datetime(2026, 12, 1, tzinfo=UTC)

    result = result_from_webhook(event, unclaimed_days=30, now=now)

    assert result == RailResult(
        item_id=41,
        status="failed",
        provider_ref="FYXMPQTX4JC9N",
        reason="RETURNED: RECEIVER_UNREGISTERED: Receiver is unregistered. Funds were returned "
        "after 30 days.",
    )
    other = {**event, "event_type": "PAYMENT.PAYOUTSBATCH.SUCCESS"}
    assert result_from_webhook(other, unclaimed_days=30, now=now) is None


def test_an_unknown_environment_is_refused_not_taken_for_the_sandbox(paypal_stub, settings):
    settings.PAYPAL_ENVIRONMENT = "live"
    with pytest.raises(RailUnavailable, match="PAYPAL_ENVIRONMENT"):
        PayPalRail().send(program_id=7, batch_id=3, items=[item()])


def test_twenty_concurrent_sends_of_one_item_make_one_payout(rail, paypal_stub):
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(lambda _: rail.send(program_id=7, batch_id=3, items=[item()]), range(20))
        )

    assert len({r[0] for r in results}) == 1 and results[0][0].status == "sent"
    assert len(paypal_stub.batches) == 1


def test_a_refused_token_is_dropped_and_the_next_call_gets_a_new_one(rail, paypal_stub):
    rail.send(program_id=7, batch_id=3, items=[item(1)])
    paypal_stub.tokens.clear()  # PayPal revoked the token before its expiry

    with pytest.raises(RailUnavailable):
        rail.send(program_id=7, batch_id=3, items=[item(2)])
    [result] = rail.send(program_id=7, batch_id=3, items=[item(2)])

    assert result.status == "sent"
    assert len(paypal_stub.calls("POST", "/v1/oauth2/token")) == 2
