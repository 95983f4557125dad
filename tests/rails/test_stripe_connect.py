"""The `stripe_connect` rail through the official `stripe` SDK against the local Stripe stub."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from rules.rewards.rails.base import RailItem, idempotency_key_for, rail_get
from rules.rewards.rails.providers import RailUnavailable
from rules.rewards.rails.stripe_connect import StripeConnectRail, result_from_event, result_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rails" / "stripe"


def item(item_id=41, *, amount=1234, currency="USD", account="acct_1PartnerA", method=None):
    return RailItem(
        item_id=item_id,
        idempotency_key=idempotency_key_for(item_id),
        amount=amount,
        currency=currency,
        method=method or "stripe_connect",
        details={"account": account},
        participant_external_id="partner-a",
        note="Referral rewards, November",
    )


@pytest.fixture
def rail(stripe_stub):
    # No SDK retries unless a test asks: a 500 then surfaces as it is.
    return StripeConnectRail(max_network_retries=0)


def test_the_registered_rail_pays_a_transfer_at_the_stub(stripe_stub):
    [result] = rail_get("stripe_connect").send(program_id=7, batch_id=3, items=[item()])

    assert result.status == "paid" and result.item_id == 41
    [transfer] = stripe_stub.transfers.values()
    assert result.provider_ref == transfer["id"]
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (
        1234,
        "usd",
        "acct_1PartnerA",
    )
    assert transfer["metadata"]["payout_item_id"] == "41"
    assert transfer["transfer_group"] == "payout-batch-3"
    [call] = stripe_stub.calls("POST", "/v1/transfers")
    assert call.headers["idempotency-key"] == "payout-item-41"
    # The SDK's request reached the stub on loopback (the no_internet fixture refuses any other).
    assert call.client == "127.0.0.1" and urlsplit(stripe_stub.url).hostname == "127.0.0.1"


def test_amounts_go_in_minor_units_whatever_the_exponent(rail, stripe_stub):
    rail.send(program_id=7, batch_id=3, items=[item(1, amount=1000, currency="JPY")])
    rail.send(program_id=7, batch_id=3, items=[item(2, amount=1999, currency="EUR")])

    sent = [dict(parse_qsl(c.body.decode())) for c in stripe_stub.calls("POST", "/v1/transfers")]
    assert [(s["amount"], s["currency"]) for s in sent] == [("1000", "jpy"), ("1999", "eur")]


def test_the_same_key_twice_makes_one_transfer(rail, stripe_stub):
    stripe_stub.list_visible = False  # only the Idempotency-Key stands between us and a 2nd
    first = rail.send(program_id=7, batch_id=3, items=[item()])
    # A retry after a crash between Stripe's answer and our commit: the same item, alone or
    # among others, carries the same key.
    again = rail.send(program_id=7, batch_id=3, items=[item(), item(42, account="acct_1PartnerB")])

    assert again[0] == first[0]
    assert len(stripe_stub.transfers_to("acct_1PartnerA")) == 1
    assert len(stripe_stub.transfers) == 2
    assert len(stripe_stub.calls("POST", "/v1/transfers")) == 3


def test_an_unknown_account_fails_the_item_with_stripes_reason(rail, stripe_stub):
    [result] = rail.send(program_id=7, batch_id=3, items=[item(account="acct_1Unknown")])

    assert result.status == "failed" and result.provider_ref == ""
    assert result.reason == "resource_missing: No such destination: 'acct_1Unknown'"
    assert stripe_stub.transfers == {}


def test_insufficient_platform_balance_fails_the_item(rail, stripe_stub):
    stripe_stub.balance["usd"] = 1000

    results = rail.send(program_id=7, batch_id=3, items=[item(1, amount=600), item(2, amount=600)])

    assert [r.status for r in results] == ["paid", "failed"]
    assert results[1].reason.startswith("balance_insufficient: You have insufficient")


def test_an_item_without_a_connected_account_fails_without_a_call(rail, stripe_stub):
    [result] = rail.send(program_id=7, batch_id=3, items=[item(method="paypal")])

    assert result.status == "failed" and "not stripe_connect" in result.reason
    assert stripe_stub.calls("POST", "/v1/transfers") == []


def test_an_outage_decides_nothing_and_the_retry_pays_once(rail, stripe_stub):
    stripe_stub.fail_next = [500]

    with pytest.raises(RailUnavailable):
        rail.send(program_id=7, batch_id=3, items=[item()])
    [result] = rail.send(program_id=7, batch_id=3, items=[item()])

    assert result.status == "paid"
    assert len(stripe_stub.transfers) == 1


def test_the_sdk_retries_an_outage_itself_with_the_same_key(stripe_stub):
    stripe_stub.fail_next = [500]

    [result] = StripeConnectRail(max_network_retries=1).send(
        program_id=7, batch_id=3, items=[item()]
    )

    assert result.status == "paid"
    keys = [c.headers["idempotency-key"] for c in stripe_stub.calls("POST", "/v1/transfers")]
    assert keys == ["payout-item-41", "payout-item-41"]
    assert len(stripe_stub.transfers) == 1


def test_a_refused_secret_key_is_an_outage_not_a_failed_item(rail, stripe_stub, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"
    with pytest.raises(RailUnavailable, match="Invalid API Key"):
        rail.send(program_id=7, batch_id=3, items=[item()])
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(RailUnavailable, match="STRIPE_SECRET_KEY"):
        rail.send(program_id=7, batch_id=3, items=[item()])
    assert stripe_stub.transfers == {}


def age(stub, days: float = 2) -> None:
    """Stripe has forgotten the idempotency keys: the transfers are `days` old."""
    for transfer in stub.transfers.values():
        transfer["created"] -= int(days * 86400)
    stub.idempotent.clear()


def test_a_key_reused_with_other_parameters_is_no_decision(rail, stripe_stub):
    rail.send(program_id=7, batch_id=3, items=[item(amount=1234)])
    with pytest.raises(RailUnavailable, match="same parameters"):
        rail.send(program_id=7, batch_id=3, items=[item(amount=999)])
    age(stripe_stub)
    with pytest.raises(RailUnavailable, match="is 1234 usd, not 999 USD"):
        rail.send(program_id=7, batch_id=3, items=[item(amount=999)])
    assert len(stripe_stub.transfers) == 1


def test_poll_sees_a_reversal_as_a_return(rail, stripe_stub):
    [paid] = rail.send(program_id=7, batch_id=3, items=[item()])
    assert rail.poll(program_id=7, provider_refs=[paid.provider_ref]) == [paid]

    stripe_stub.reverse(paid.provider_ref)
    [returned] = rail.poll(program_id=7, provider_refs=[paid.provider_ref])

    assert (returned.item_id, returned.status) == (41, "failed")
    assert returned.reason.startswith("returned")
    # A retried send after the reversal does not pay again either: same transfer, failed.
    [replayed] = rail.send(program_id=7, batch_id=3, items=[item()])
    assert replayed.provider_ref == paid.provider_ref
    assert len(stripe_stub.transfers) == 1


def test_a_partial_reversal_stays_paid_and_says_so(rail, stripe_stub):
    [paid] = rail.send(program_id=7, batch_id=3, items=[item(amount=1000)])
    stripe_stub.reverse(paid.provider_ref, amount=300)

    [result] = rail.poll(program_id=7, provider_refs=[paid.provider_ref])

    assert result.status == "paid"
    assert result.reason == "partially reversed: 300 of 1000 (minor units) returned"


def test_poll_skips_a_transfer_stripe_does_not_know(rail, stripe_stub):
    assert rail.poll(program_id=7, provider_refs=["tr_missing"]) == []


def test_the_documented_transfer_objects_map_as_the_stub_does(rail, stripe_stub):
    transfer = json.loads((FIXTURES / "transfer.json").read_text())
    reversed_ = json.loads((FIXTURES / "transfer_reversed.json").read_text())
    assert result_of(41, transfer).status == "paid"
    assert result_of(41, reversed_).status == "failed"

    [paid] = rail.send(program_id=7, batch_id=3, items=[item()])
    stub_transfer = stripe_stub.transfers[paid.provider_ref]
    assert set(transfer) <= set(stub_transfer)
    reversal = stripe_stub.reverse(paid.provider_ref)
    assert set(json.loads((FIXTURES / "transfer_reversal.json").read_text())) <= set(reversal)
    assert set(reversed_) <= set(stripe_stub.transfers[paid.provider_ref])


@pytest.mark.parametrize(
    "fixture,stub_setup",
    [
        ("error_resource_missing.json", lambda stub: stub.accounts.clear()),
        ("error_balance_insufficient.json", lambda stub: stub.balance.clear()),
    ],
)
def test_the_stubs_errors_have_stripes_documented_fields(rail, stripe_stub, fixture, stub_setup):
    stub_setup(stripe_stub)
    rail.send(program_id=7, batch_id=3, items=[item()])

    documented = json.loads((FIXTURES / fixture).read_text())["error"]
    [response] = stripe_stub.idempotent.values()
    status, body = response[1], response[2]
    assert status == 400
    assert set(documented) <= set(body["error"])
    assert body["error"]["code"] == documented["code"]


def test_a_transfer_reversed_event_is_the_items_return():
    event = json.loads((FIXTURES / "event_transfer_reversed.json").read_text())

    result = result_from_event(event)

    assert result is not None
    assert (result.item_id, result.status) == (41, "failed")
    assert result.provider_ref == "tr_1MiN3gLkdIwHu7ixNCZvFdgA"
    assert result_from_event({**event, "type": "charge.refunded"}) is None
    foreign = {**event, "data": {"object": {**event["data"]["object"], "metadata": {}}}}
    assert result_from_event(foreign) is None


def test_twenty_concurrent_sends_of_one_item_make_one_transfer(rail, stripe_stub):
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(lambda _: rail.send(program_id=7, batch_id=3, items=[item()]), range(20))
        )

    assert len({r[0] for r in results}) == 1 and results[0][0].status == "paid"
    assert len(stripe_stub.transfers) == 1


def test_a_retry_after_stripe_forgot_the_key_finds_the_transfer(rail, stripe_stub):
    [paid] = rail.send(program_id=7, batch_id=3, items=[item()])
    age(stripe_stub)  # Stripe keeps idempotency keys for 24 hours only

    again = rail.send(program_id=7, batch_id=3, items=[item(), item(42, account="acct_1PartnerB")])

    assert again[0] == paid
    assert again[1].status == "paid" and again[1].provider_ref != paid.provider_ref
    assert len(stripe_stub.transfers) == 2
    assert len(stripe_stub.calls("POST", "/v1/transfers")) == 2  # item 41 was not asked again
    listed = stripe_stub.calls("GET", "/v1/transfers")
    assert listed and all("transfer_group=payout-batch-3" in c.path for c in listed)


def test_within_the_keys_lifetime_a_retry_asks_again_with_the_key(rail, stripe_stub):
    [paid] = rail.send(program_id=7, batch_id=3, items=[item()])

    assert rail.send(program_id=7, batch_id=3, items=[item()]) == [paid]

    posts = stripe_stub.calls("POST", "/v1/transfers")
    assert [c.headers["idempotency-key"] for c in posts] == ["payout-item-41"] * 2
    assert len(stripe_stub.transfers) == 1


def test_the_lookup_pages_through_a_large_batch(rail, stripe_stub):
    items = [item(i, amount=100 + i) for i in range(1, 131)]
    rail.send(program_id=7, batch_id=3, items=items)
    age(stripe_stub)

    again = rail.send(program_id=7, batch_id=3, items=items)

    assert len(stripe_stub.transfers) == 130
    assert {r.status for r in again} == {"paid"}
    assert len(stripe_stub.calls("POST", "/v1/transfers")) == 130
