"""Who paid and who referred them, in SPEC section 13's order (services/lookup.py)."""

from __future__ import annotations

import uuid

import pytest

from rules.billing.models import CustomerLink
from rules.billing.providers import Lookup
from rules.billing.services.lookup import participant_lookup

pytestmark = pytest.mark.django_db

CLICK = str(uuid.uuid4())
OTHER_CLICK = str(uuid.uuid4())


def find(program, mapping=None, **lookup):
    return participant_lookup(
        program=program, provider="stripe", lookup=Lookup(**lookup), mapping=mapping or {}
    )


def test_client_reference_id_click_comes_before_metadata(program):
    found = find(
        program,
        client_reference_id=CLICK,
        metadata={"click_id": OTHER_CLICK, "referral_code": "ALICE", "participant": "bob"},
        promotion_codes=("SPRING",),
        email="bob@example.com",
    )
    assert (found.click_id, found.coupon, found.user) == (CLICK, "", "bob")
    assert found.sources == {
        "referrer": "client_reference_id (click id)",
        "user": "metadata.participant",
    }


def test_client_reference_id_that_is_not_a_click_is_the_user(program):
    found = find(program, client_reference_id="u-42", metadata={"participant": "bob"})
    assert found.user == "u-42" and found.sources["user"] == "client_reference_id"


def test_metadata_click_then_referral_code_then_promotion_code(program):
    assert find(program, metadata={"click_id": CLICK, "referral_code": "A"}).click_id == CLICK
    found = find(program, metadata={"referral_code": "ALICE"}, promotion_codes=("SPRING",))
    assert (found.click_id, found.coupon) == ("", "ALICE")
    found = find(program, promotion_codes=("SPRING",), email="bob@example.com")
    assert (found.coupon, found.sources["referrer"]) == ("SPRING", "promotion code")


def test_the_user_falls_back_to_email_then_customer(program):
    assert find(program, email="Bob@Example.com", customer="cus_1").user == "bob@example.com"
    # An email the participant id rules refuse (a '+') falls through to the customer id.
    assert find(program, email="bob+x@example.com", customer="cus_1").user == "cus_1"
    assert find(program).user == ""


def test_a_linked_customer_comes_before_the_email(program):
    CustomerLink.objects.create(program=program, provider="stripe", customer="cus_1", user="bob")
    assert find(program, email="someone@example.com", customer="cus_1").user == "bob"


def test_the_mapping_renames_metadata_keys(program):
    mapping = {"metadata_keys": {"click_id": "rl_click", "participant": "user_id"}}
    found = find(program, mapping, metadata={"rl_click": CLICK, "user_id": "bob"})
    assert (found.click_id, found.user) == (CLICK, "bob")


@pytest.mark.django_db(transaction=True)
def test_a_promotion_code_attributes_to_the_coupon_owner(program, integrate, commission):
    """End to end: the checkout's expanded promotion code is alice's referral code."""
    from rules.models import Participant, Referral
    from rules.rewards.models import Reward
    from rules.services.participants import participant_get_or_create
    from tests.billing.conftest import checkout, post_stripe

    integrate()
    commission()
    participant_get_or_create(program=program, external_id="alice", actor="t")
    code = Participant.objects.get(external_id="alice").referral_code
    event = checkout(discounts=[{"promotion_code": {"id": "promo_1", "code": code}}])
    assert post_stripe(event).status_code == 200
    assert Referral.objects.get(referred__external_id="bob").referrer.external_id == "alice"
    assert list(Reward.objects.values_list("beneficiary", "amount")) == [("alice", 5000)]
