"""explain(): a rule in one plain-English sentence."""

from __future__ import annotations

import pytest

from rules.catalog import catalog_for
from rules.explain import explain, format_money, leaf_sentence, schedule_phrase
from rules.nl import parse_offline
from tests.rules.test_validation import EXAMPLE


def test_spec_example():
    assert explain(EXAMPLE) == (
        "When a subscription starts, if the referrer is a paid user and the referred user is "
        "on the premium plan, give the referrer a ₹500.00 voucher."
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
        "When a purchase is made, if the order amount is at least ₹1,000.00, (either the "
        "referred user is from India or the US or the referrer is tagged “vip”) and the "
        "referred user joined within the last 30 days, pay the referrer 2.5% of the order "
        "amount, capped at ₹1,000.00, pay the referrer's referrer the program's override rate "
        "of the order amount, and give the referred user 5 credits, unless the referrer is a "
        "paid user, and no other rule runs; each person is rewarded at most 3 times a month."
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
        # a negative condition reads as an exception: "... unless the referred user's score is 3"
        negative = operator.startswith("not_")
        assert text.startswith(
            "When a subscription starts, give the referrer a ₹500.00 voucher unless the "
            "referred user's score "
            if negative
            else "When a subscription starts, if the referred user's score "
        ), text
        assert text.count(".") == 2  # "₹500.00" and the full stop only
        assert leaf_sentence(leaf, currency="INR") != leaf_sentence(
            leaf, currency="INR", negated=True
        )


def leaf(field, operator, value=None):
    node = {"field": field, "operator": operator}
    return node if value is None else {**node, "value": value}


@pytest.mark.parametrize(
    ("node", "currency", "text", "negated_text"),
    [
        # money fields read in major units of the program's currency (stored in minor units)
        (
            leaf("event.amount", "greater_than", 500000),
            "INR",
            "the order amount is over ₹5,000.00",
            "the order amount is not over ₹5,000.00",
        ),
        (
            leaf("event.amount", "greater_than_or_equal", 1999),
            "USD",
            "the order amount is at least $19.99",
            "the order amount is under $19.99",
        ),
        (
            leaf("event.amount", "less_than", 5000),
            "JPY",
            "the order amount is under ¥5,000",
            "the order amount is not under ¥5,000",
        ),
        (
            leaf("event.amount", "between", [100000, 1000000]),
            "INR",
            "the order amount is between ₹1,000.00 and ₹10,000.00",
            "the order amount is not between ₹1,000.00 and ₹10,000.00",
        ),
        (
            leaf("event.amount", "in", [1000, 2500]),
            "USD",
            "the order amount is $10.00 or $25.00",
            "the order amount is not $10.00 or $25.00",
        ),
        (
            leaf("event.amount", "less_than_or_equal", 1234),
            "KWD",
            "the order amount is at most KWD 1.234",
            "the order amount is over KWD 1.234",
        ),
        # without the currency, minor units say so
        (
            leaf("event.amount", "greater_than", 500000),
            None,
            "the order amount is over 500,000 minor units",
            "the order amount is not over 500,000 minor units",
        ),
        # people
        (
            leaf("referrer.is_paid_user", "equals", True),
            "INR",
            "the referrer is a paid user",
            "the referrer is not a paid user",
        ),
        (
            leaf("referred.country", "equals", "US"),
            "INR",
            "the referred user is from the US",
            "the referred user is not from the US",
        ),
        (
            leaf("referred.country", "not_in", ["US", "GB", "XX"]),
            "INR",
            "the referred user is not from the US, the UK or XX",
            "the referred user is from the US, the UK or XX",
        ),
        (
            leaf("referrer.tier", "equals", "gold"),
            "INR",
            "the referrer is a Gold partner",
            "the referrer is not a Gold partner",
        ),
        (
            leaf("referrer.tier", "in", ["gold", "platinum_plus"]),
            "INR",
            "the referrer is a Gold or Platinum Plus partner",
            "the referrer is not a Gold or Platinum Plus partner",
        ),
        (
            leaf("parent.tier", "not_equals", "elite"),
            "INR",
            "the referrer's referrer is not an Elite partner",
            "the referrer's referrer is an Elite partner",
        ),
        (
            leaf("referred.subscription_plan", "equals", "premium"),
            "INR",
            "the referred user is on the premium plan",
            "the referred user is not on the premium plan",
        ),
        (
            leaf("referrer.referrals_count", "greater_than", 5),
            "INR",
            "the referrer has more than 5 referrals",
            "the referrer has at most 5 referrals",
        ),
        (
            leaf("referrer.referrals_count", "greater_than_or_equal", 1),
            "INR",
            "the referrer has at least 1 referral",
            "the referrer has fewer than 1 referral",
        ),
        (
            leaf("referred.joined_at", "within_last_days", 30),
            "INR",
            "the referred user joined within the last 30 days",
            "the referred user did not join within the last 30 days",
        ),
        (
            leaf("referred.joined_at", "within_last_days", 14),
            "INR",
            "the referred user joined within the last 2 weeks",
            "the referred user did not join within the last 2 weeks",
        ),
        (
            leaf("referrer.id", "exists"),
            "INR",
            "there is a referrer",
            "there is no referrer",
        ),
        (
            leaf("referrer.tags", "contains", "vip"),
            "INR",
            "the referrer is tagged “vip”",
            "the referrer is not tagged “vip”",
        ),
        (
            leaf("referred.email", "ends_with", "@acme.com"),
            "INR",
            "the referred user's email ends with “@acme.com”",
            "the referred user's email does not end with “@acme.com”",
        ),
        # the event
        (
            leaf("event.category", "equals", "books"),
            "INR",
            "the purchase is in the books category",
            "the purchase is not in the books category",
        ),
        (
            leaf("event.quantity", "greater_than", 3),
            "INR",
            "the order has more than 3 items",
            "the order has at most 3 items",
        ),
        # percentages read as percent
        (
            leaf("event.discount_percent", "greater_than", 10),
            "INR",
            "the discount percent is over 10%",
            "the discount percent is not over 10%",
        ),
        (
            leaf("event.margin_bps", "greater_than_or_equal", 250),
            "INR",
            "the margin bps is at least 2.5%",
            "the margin bps is under 2.5%",
        ),
    ],
)
def test_leaf_sentence(node, currency, text, negated_text):
    assert leaf_sentence(node, currency=currency) == text
    assert leaf_sentence(node, currency=currency, negated=True) == negated_text


def test_leaf_sentence_names_the_amount_of_the_trigger_and_custom_money_fields():
    node = leaf("event.amount", "greater_than", 99900)
    assert leaf_sentence(node, currency="INR", trigger="subscription_renewed") == (
        "the renewal amount is over ₹999.00"
    )
    deal = leaf("event.deal_value", "greater_than", 1000000)
    # not a money field unless the catalog says so: the number as it is
    assert leaf_sentence(deal, currency="USD") == "the deal value is over 1,000,000"
    assert leaf_sentence(deal, currency="USD", money={"event.deal_value"}) == (
        "the deal value is over $10,000.00"
    )


def test_a_custom_money_field_reads_as_money_in_the_rule():
    catalog = catalog_for(
        {
            "triggers": {
                "deal_won": {
                    "fields": {"event.deal_value": "integer", "event.seats": "integer"},
                    "money": ["event.deal_value"],
                }
            }
        }
    )
    definition = {
        "trigger": "deal_won",
        "conditions": {
            "operator": "AND",
            "conditions": [
                leaf("event.deal_value", "greater_than_or_equal", 2500000),
                leaf("event.seats", "greater_than", 10),
            ],
        },
        "actions": [
            {
                "type": "percent_commission",
                "params": {"of": "event.deal_value", "rate_bps": 500, "reward_type": "cash"},
            }
        ],
    }
    assert explain(definition, currency="USD", catalog=catalog) == (
        "When a deal won event arrives, if the deal value is at least $25,000.00 and the seats "
        "is over 10, pay the referrer 5% of the deal value."
    )


def test_schedules():
    assert schedule_phrase(
        {"active_from": "2027-01-01T00:00:00+05:30", "active_until": "2027-04-01T00:00:00+05:30"}
    ) == ("from 1 January 2027 until 31 March 2027")
    assert schedule_phrase({"active_from": "2027-01-01T09:30:00Z"}) == (
        "from 1 January 2027 at 09:30"
    )
    # an end at midnight names the last day it covers; another time is given as it is
    assert schedule_phrase({"active_until": "2027-04-01T00:00:00+00:00"}) == "until 31 March 2027"
    assert schedule_phrase({"active_until": "2027-03-31T18:00:00+00:00"}) == (
        "until 31 March 2027 at 18:00"
    )
    assert schedule_phrase({"active_from": "not a date"}) is None
    assert schedule_phrase({}) is None
    definition = {
        **EXAMPLE,
        "active_from": "2027-01-01T00:00:00+05:30",
        "active_until": "2027-04-01T00:00:00+05:30",
        "stop_processing": True,
    }
    assert explain(definition, currency="INR") == (
        "From 1 January 2027 until 31 March 2027, when a subscription starts, if the referrer "
        "is a paid user and the referred user is on the premium plan, give the referrer a "
        "₹500.00 voucher, and no other rule runs."
    )


def test_limits_read_as_money_of_the_program():
    definition = {
        **EXAMPLE,
        "limits": {
            "per_beneficiary": {"max_rewards": 1, "max_amount": 100000, "period": "all_time"},
            "budget": {"max_amount": 1000000000},
        },
    }
    assert explain({**definition, "active_until": "2027-01-01T00:00:00Z"}, currency="INR") == (
        "Until 31 December 2026, when a subscription starts, if the referrer is a paid user and "
        "the referred user is on the premium plan, give the referrer a ₹500.00 voucher; each "
        "person is rewarded at most once in total, each person gets at most ₹1,000.00 in total "
        "and the rule pays at most ₹10,000,000.00 in total."
    )
    assert explain(definition, currency="INR").endswith(
        "; each person is rewarded at most once in total, each person gets at most ₹1,000.00 "
        "in total and the rule pays at most ₹10,000,000.00 in total."
    )


def test_several_exceptions_and_a_negated_group():
    definition = {
        "trigger": "purchase",
        "conditions": {
            "operator": "AND",
            "conditions": [
                leaf("referrer.tier", "equals", "gold"),
                leaf("referred.country", "not_equals", "US"),
                {
                    "operator": "NOT",
                    "conditions": [
                        {
                            "operator": "AND",
                            "conditions": [
                                leaf("event.category", "equals", "books"),
                                leaf("event.amount", "less_than", 10000),
                            ],
                        }
                    ],
                },
            ],
        },
        "actions": [
            {
                "type": "percent_commission",
                "params": {"of": "event.amount", "rate_bps": 1500, "reward_type": "cash"},
            }
        ],
    }
    assert explain(definition, currency="INR") == (
        "When a purchase is made, if the referrer is a Gold partner, pay the referrer 15% of "
        "the order amount unless the referred user is from the US or the purchase is in the "
        "books category and the order amount is under ₹100.00."
    )


CATALOG = catalog_for()
# Drafted from the words, explained back: the sentence a marketer would have written.
EXPLAINED = [
    (
        "10% of the order to the referrer, capped at 2000, for orders over 5000 INR",
        "INR",
        "When a purchase is made, if the order amount is over ₹5,000.00, pay the referrer 10% "
        "of the order amount, capped at ₹2,000.00.",
    ),
    (
        "When a friend buys something between 1000 and 10000 rupees, give the referrer "
        "100 rupees cash",
        "INR",
        "When a purchase is made, if the order amount is between ₹1,000.00 and ₹10,000.00, "
        "give the referrer ₹100.00 in cash.",
    ),
    (
        "When someone signs up, give the referrer 500 rupees voucher if they have more than "
        "5 referrals",
        "INR",
        "When someone signs up, if the referrer has more than 5 referrals, give the referrer a "
        "₹500.00 voucher.",
    ),
    (
        "When a friend purchases within 30 days of signing up, give the referrer 200 rupees cash",
        "INR",
        "When a purchase is made, if the referred user joined within the last 30 days, give "
        "the referrer ₹200.00 in cash.",
    ),
    (
        "When someone signs up, 50 rupees to both",
        "INR",
        "When someone signs up, give both the referrer and the referred user ₹50.00 in cash.",
    ),
    (
        "2% of every purchase to the referrer's referrer",
        "INR",
        "When a purchase is made, pay the referrer's referrer 2% of the order amount.",
    ),
    (
        "When a friend subscribes, give the referrer 300 rupees cash unless they are from the US",
        "INR",
        "When a subscription starts, give the referrer ₹300.00 in cash unless the referred "
        "user is from the US.",
    ),
    (
        "When a friend purchases, pay the referrer 5% of the order and stop other rules",
        "INR",
        "When a purchase is made, pay the referrer 5% of the order amount, and no other rule runs.",
    ),
    (
        "10 percent commission on purchases, capped at 1000 rupees, and 2 percent to the parent",
        "INR",
        "When a purchase is made, pay the referrer 10% of the order amount, capped at "
        "₹1,000.00, and pay the referrer's referrer 2% of the order amount.",
    ),
    (
        "When someone signs up, give the referrer $10 cash",
        "USD",
        "When someone signs up, give the referrer $10.00 in cash.",
    ),
    (
        "When a friend signs up, give the referrer 500 yen cash",
        "JPY",
        "When someone signs up, give the referrer ¥500 in cash.",
    ),
    (
        "15% of the order to the referrer for orders over 5000 rupees, except in the books "
        "category, and stop other rules",
        "INR",
        "When a purchase is made, if the order amount is over ₹5,000.00, pay the referrer 15% "
        "of the order amount unless the purchase is in the books category, and no other rule "
        "runs.",
    ),
    (
        "When someone subscribes to the pro plan within 7 days of signing up, give both "
        "100 rupees voucher",
        "INR",
        "When a subscription starts, if the referred user is on the pro plan and joined within "
        "the last week, give both the referrer and the referred user a ₹100.00 voucher.",
    ),
    (
        "When a friend buys, 5% to the referrer, at most 10 rewards per referrer a month, "
        "with a budget of 100000 rupees",
        "INR",
        "When a purchase is made, pay the referrer 5% of the order amount; each person is "
        "rewarded at most 10 times a month and the rule pays at most ₹100,000.00 in total.",
    ),
    (
        "When a referral is created, give the referrer 10 points unless the referrer is a "
        "free user",
        "INR",
        "When a referral is recorded, if the referrer is a paid user, give the referrer 10 "
        "credits.",
    ),
    (
        "Gold partners get 15%",
        "INR",
        "When a purchase is made, if the referrer is a Gold partner, pay the referrer 15% of "
        "the order amount.",
    ),
    (
        "5% of purchases to the referrer except bronze partners",
        "INR",
        "When a purchase is made, pay the referrer 5% of the order amount unless the referrer "
        "is a Bronze partner.",
    ),
    (
        "When someone signs up, give the referrer 100 rupees cash from 1 January 2027 to "
        "31 March 2027",
        "INR",
        "From 1 January 2027 until 31 March 2027, when someone signs up, give the referrer "
        "₹100.00 in cash.",
    ),
    (
        "When someone signs up, give the referrer 100 rupees cash unless they are from the US, "
        "the UK or Canada",
        "INR",
        "When someone signs up, give the referrer ₹100.00 in cash unless the referred user is "
        "from the US, the UK or Canada.",
    ),
]


@pytest.mark.parametrize(
    ("words", "currency", "sentence"), EXPLAINED, ids=[e[0][:50] for e in EXPLAINED]
)
def test_drafted_rules_explain_as_a_marketer_writes(words, currency, sentence):
    definition = parse_offline(words, catalog=CATALOG, currency=currency)["definition"]
    assert explain(definition, currency=currency) == sentence


def test_seed_demo_rules_read_as_sentences():
    from rules.management.commands.seed_demo import COMMISSION_RULE, SIGNUP_RULE

    assert explain(COMMISSION_RULE, currency="INR") == (
        "When a purchase is made, if the order amount is over ₹0.00, pay the referrer 10% of "
        "the order amount, capped at ₹5,000.00, and pay the referrer's referrer 2% of the "
        "order amount, capped at ₹1,000.00; each person is rewarded at most 20 times a month."
    )
    assert explain(SIGNUP_RULE, currency="INR") == (
        "When someone signs up, if there is a referrer, give the referred user the signup credit."
    )


@pytest.mark.parametrize(
    "definition",
    [
        {},
        {"trigger": 5, "conditions": [1], "actions": "x", "limits": 4},
        {"conditions": {"operator": "AND", "conditions": [1, "x", None]}},
        {"conditions": {"operator": "NOT"}},
        {"actions": [1, {"type": "credit_reward", "params": 5}]},
        {"actions": [{"type": "credit_reward", "params": {"amount": "x"}}]},
        {"actions": [{"type": "percent_commission", "params": {"of": 5, "rate_bps": "x"}}]},
        {"limits": {"per_beneficiary": {"max_rewards": "x"}, "budget": 3}},
        {"active_from": 5, "active_until": "2027-13-01"},
    ],
)
def test_a_malformed_stored_definition_still_reads_as_a_sentence(definition):
    text = explain(definition, currency="INR")
    assert text.startswith("When ") and text.endswith(".")


@pytest.mark.parametrize(
    "value", [None, True, "x", [], [None], {"a": 1}, float("nan"), 10**30, "\x00", [[1]]]
)
def test_leaf_sentence_takes_any_stored_value(value):
    for field in ("event.amount", "referrer.tier", "referred.country", "referrer.referrals_count"):
        for operator in ("equals", "in", "between", "greater_than", "within_last_days", "x"):
            node = {"field": field, "operator": operator, "value": value}
            assert leaf_sentence(node, currency="INR", negated=True)
