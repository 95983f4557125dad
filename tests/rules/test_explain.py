"""explain(): a rule in one plain-English sentence."""

from __future__ import annotations

import pytest

from rules.explain import explain, format_money
from tests.rules.test_validation import EXAMPLE


def test_spec_example():
    assert explain(EXAMPLE) == (
        "When a subscription starts, if the referrer is a paid user and the referred user's "
        "subscription plan is premium, give the referrer a ₹500.00 voucher."
    )


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (50000, "INR", "₹500.00"),
        (123456789, "USD", "$1,234,567.89"),
        (5, "EUR", "€0.05"),
        (500, "JPY", "¥500"),
        (1234, "KWD", "KWD 1.234"),
        (1000, "CHF", "CHF 10.00"),
        # the ledger's ISO 4217 table (payouts use it too), not a partial copy
        (500, "XOF", "XOF 500"),
        (12345, "CLF", "CLF 1.2345"),
    ],
)
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


def test_operators_groups_and_actions():
    definition = {
        "name": "x",
        "trigger": "purchase",
        "stop_processing": True,
        "conditions": {
            "operator": "AND",
            "conditions": [
                {"field": "event.amount", "operator": "greater_than_or_equal", "value": 100000},
                {
                    "operator": "OR",
                    "conditions": [
                        {"field": "referred.country", "operator": "in", "value": ["IN", "US"]},
                        {"field": "referrer.tags", "operator": "contains", "value": "vip"},
                    ],
                },
                {
                    "operator": "NOT",
                    "conditions": [
                        {"field": "referrer.is_paid_user", "operator": "equals", "value": True}
                    ],
                },
                {"field": "referred.joined_at", "operator": "within_last_days", "value": 30},
            ],
        },
        "actions": [
            {
                "type": "percent_commission",
                "params": {
                    "of": "event.amount",
                    "rate_bps": 250,
                    "reward_type": "cash",
                    "cap": 100000,
                },
            },
            {
                "type": "percent_commission",
                "params": {"beneficiary": "parent", "of": "event.amount", "reward_type": "cash"},
            },
            {
                "type": "award_credits",
                "params": {"beneficiary": "referred", "operation": "CREDIT_ADD", "amount": 5},
            },
        ],
        "limits": {"per_beneficiary": {"max_rewards": 3, "period": "month"}},
    }
    assert explain(definition, currency="INR") == (
        "When a purchase is made, if the amount is at least 100000, (either the referred "
        "user's country is one of IN or US or the referrer's tags contains “vip”), the "
        "referrer is not a paid user and the referred user's joined at is within the last 30 "
        "days before the event, pay the referrer a 2.5% commission on the amount as cash, "
        "capped at ₹1,000.00, pay the referrer's referrer the program's override commission "
        "rate on the amount as cash and award the referred user 5 credits (CREDIT_ADD) (at "
        "most 3 rewards per beneficiary per month), then skip lower-priority rules."
    )


def test_rule_without_conditions_and_custom_trigger():
    definition = {
        "name": "x",
        "trigger": "app_installed",
        "conditions": {"operator": "AND", "conditions": []},
        "actions": [
            {
                "type": "credit_reward",
                "params": {
                    "beneficiary": "referred",
                    "amount": 1000,
                    "currency": "USD",
                    "reward_type": "cash",
                },
            }
        ],
    }
    assert explain(definition) == (
        "When an app installed event arrives, give the referred user $10.00 in cash."
    )


def test_one_sentence_for_every_operator():
    from rules.engine import LEAF_OPERATORS

    for operator in LEAF_OPERATORS:
        value = {"between": [1, 5], "in": ["a", "b"], "not_in": ["a"]}.get(operator, 3)
        leaf = {"field": "referred.score", "operator": operator, "value": value}
        text = explain({**EXAMPLE, "conditions": {"operator": "AND", "conditions": [leaf]}})
        assert text.startswith("When a subscription starts, if the referred user's score ")
        assert text.count(".") == 2  # "₹500.00" and the full stop only
