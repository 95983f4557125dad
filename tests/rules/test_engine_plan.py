"""plan_actions: what a matched rule's actions would do (pure, deterministic)."""

from __future__ import annotations

from rules.engine.plan import plan_actions

FACTS = {
    "event": {"type": "purchase", "amount": 123_457},
    "referred": {"id": "u-new"},
    "referrer": {"id": "u-ref"},
    "parent": {"id": "u-top"},
}


def definition(*actions):
    return {"name": "t", "trigger": "purchase", "actions": list(actions)}


def commission(**params):
    return {
        "type": "percent_commission",
        "params": {"of": "event.amount", "reward_type": "cash", **params},
    }


def plan(*actions, facts=FACTS, **rates):
    rates = {"direct_rate_bps": 1000, "override_rate_bps": 200, **rates}
    return plan_actions(definition(*actions), facts, currency="INR", **rates)


def test_credit_reward():
    [entry] = plan(
        {
            "type": "credit_reward",
            "params": {
                "beneficiary": "referrer",
                "amount": 50000,
                "currency": "INR",
                "reward_type": "voucher",
            },
        }
    )
    assert entry == {
        "index": 0,
        "type": "credit_reward",
        "beneficiary": "referrer",
        "beneficiary_id": "u-ref",
        "amount": 50000,
        "currency": "INR",
        "reward_type": "voucher",
        "skipped": None,
    }


def test_beneficiary_defaults_to_referrer():
    [entry] = plan(
        {
            "type": "credit_reward",
            "params": {"amount": 100, "currency": "INR", "reward_type": "cash"},
        }
    )
    assert (entry["beneficiary"], entry["beneficiary_id"]) == ("referrer", "u-ref")


def test_commission_is_floored_and_capped():
    first, second, third = plan(
        commission(rate_bps=250), commission(rate_bps=250, cap=3000), commission(rate_bps=333)
    )
    assert first["amount"] == 3086  # 123457 * 250 / 10000 = 3086.425
    assert second["amount"] == 3000
    assert third["amount"] == 4111  # 4111.1181
    assert first["currency"] == "INR" and first["reward_type"] == "cash"
    assert first["skipped"] is None


def test_commission_on_a_float_base_floors_exactly():
    facts = {**FACTS, "event": {"amount": 1999.99}}
    [entry] = plan(commission(rate_bps=5000), facts=facts)
    assert entry["amount"] == 999  # 999.995, not rounded up


def test_commission_rate_defaults_to_direct_for_referrer_and_override_for_parent():
    direct, override = plan(commission(), commission(beneficiary="parent"))
    assert (direct["rate_bps"], direct["amount"]) == (1000, 12345)
    assert (override["beneficiary_id"], override["rate_bps"], override["amount"]) == (
        "u-top",
        200,
        2469,
    )


def test_commission_without_a_rate_or_base_is_skipped():
    [entry] = plan(commission(), direct_rate_bps=0)
    assert entry["skipped"].startswith("no commission rate")
    [entry] = plan(commission(of="event.total", rate_bps=100))
    assert entry["skipped"] == "field event.total is missing"
    [entry] = plan(commission(rate_bps=100), facts={**FACTS, "event": {"amount": "12"}})
    assert entry["skipped"] == "field event.amount is not a number"
    [entry] = plan(commission(rate_bps=1), facts={**FACTS, "event": {"amount": 99}})
    assert entry["amount"] is None and "zero" in entry["skipped"]


def test_missing_beneficiary_is_skipped_with_a_reason():
    facts = {"event": {"amount": 1000}, "referred": {"id": "u-new"}}
    entries = plan(
        {
            "type": "credit_reward",
            "params": {"amount": 100, "currency": "INR", "reward_type": "cash"},
        },
        commission(beneficiary="parent"),
        {
            "type": "award_credits",
            "params": {"beneficiary": "referred", "operation": "SIGNUP_CREDIT"},
        },
        facts=facts,
    )
    assert [e["skipped"] for e in entries] == [
        "beneficiary referrer is missing",
        "beneficiary parent is missing",
        None,
    ]
    assert entries[0]["amount"] == 100  # still shown, for simulate and test


def test_award_credits_and_currency_mismatch():
    credits, foreign = plan(
        {
            "type": "award_credits",
            "params": {"beneficiary": "referred", "operation": "CREDIT_ADD", "amount": 5},
        },
        {
            "type": "credit_reward",
            "params": {"amount": 100, "currency": "USD", "reward_type": "cash"},
        },
    )
    assert credits == {
        "index": 0,
        "type": "award_credits",
        "beneficiary": "referred",
        "beneficiary_id": "u-new",
        "amount": 5,
        "currency": None,
        "operation": "CREDIT_ADD",
        "skipped": None,
    }
    assert foreign["skipped"] == "currency USD differs from the program's INR"
    assert foreign["index"] == 1


def test_plan_is_deterministic():
    actions = [commission(rate_bps=123), commission(beneficiary="parent")]
    assert plan(*actions) == plan(*actions)
