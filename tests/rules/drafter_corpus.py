"""Sentences a marketer writes and the rules they mean (issue 15, "Words that work").

Each entry: the sentence, the program's currency, and the meaningful parts of the expected
rule: trigger, conditions (field, operator, value; money in minor units; a negated clause of
several conditions as ("NOT", [...])), actions (type, beneficiary, params that matter) and
stop_processing. ``warnings`` lists substrings every one of which must appear among the
draft's warnings; any other warning fails the entry, except the two reminders that a reward
type or a currency was assumed. ``schedule`` is the expected active_from / active_until;
sentences are drafted as on TODAY (a schedule without a year takes the next such day).
"""

from __future__ import annotations

from datetime import date
from typing import Any

TODAY = date(2026, 12, 7)
R, F, P = "referrer", "referred", "parent"


def flat(who: str, amount: int, currency: str = "INR", reward_type: str = "cash") -> tuple:
    return (
        "credit_reward",
        who,
        {"amount": amount, "currency": currency, "reward_type": reward_type},
    )


def pct(who: str, rate_bps: int, cap: int | None = None) -> tuple:
    params: dict[str, Any] = {"rate_bps": rate_bps, "of": "event.amount"}
    if cap is not None:
        params["cap"] = cap
    return ("percent_commission", who, params)


def points(who: str, amount: int) -> tuple:
    return ("award_credits", who, {"operation": "CREDIT_ADD", "amount": amount})


def case(
    text: str,
    trigger: str,
    conditions: list | None = None,
    actions: list | None = None,
    *,
    stop: bool = False,
    currency: str = "INR",
    warnings: tuple[str, ...] = (),
    limits: dict[str, Any] | None = None,
    schedule: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "schedule": schedule or {},
        "text": text,
        "currency": currency,
        "trigger": trigger,
        "conditions": conditions or [],
        "actions": actions or [],
        "stop": stop,
        "warnings": warnings,
        "limits": limits,
    }


CORPUS: list[dict[str, Any]] = [
    # every sentence quoted in issue 15
    case(
        "10% of the order to the referrer, capped at 2000, for orders over 5000 INR",
        "purchase",
        [("event.amount", "greater_than", 500000)],
        [pct(R, 1000, cap=200000)],
    ),
    case(
        "When a friend buys something between 1000 and 10000 rupees, give the referrer "
        "100 rupees cash",
        "purchase",
        [("event.amount", "between", [100000, 1000000])],
        [flat(R, 10000)],
    ),
    case(
        "When someone signs up, give the referrer 500 rupees voucher if they have more than "
        "5 referrals",
        "signup",
        [("referrer.referrals_count", "greater_than", 5)],
        [flat(R, 50000, reward_type="voucher")],
    ),
    case(
        "When a friend purchases within 30 days of signing up, give the referrer 200 rupees cash",
        "purchase",
        [("referred.joined_at", "within_last_days", 30)],
        [flat(R, 20000)],
    ),
    case(
        "When someone signs up, 50 rupees to both",
        "signup",
        [],
        [flat(R, 5000), flat(F, 5000)],
    ),
    case("2% of every purchase to the referrer's referrer", "purchase", [], [pct(P, 200)]),
    case(
        "When a friend subscribes, give the referrer 300 rupees cash unless they are from the US",
        "subscription_started",
        [("referred.country", "not_equals", "US")],
        [flat(R, 30000)],
    ),
    case(
        "When a friend purchases, pay the referrer 5% of the order and stop other rules",
        "purchase",
        [],
        [pct(R, 500)],
        stop=True,
    ),
    # percentages with caps and minimums
    case(
        "5% commission on purchases capped at 500 rupees",
        "purchase",
        [],
        [pct(R, 500, cap=50000)],
    ),
    case(
        "Pay the referrer 1% of every subscription, up to 300 rupees",
        "subscription_started",
        [],
        [pct(R, 100, cap=30000)],
    ),
    case(
        "10 percent of the order to the referrer, minimum order 1000 rupees",
        "purchase",
        [("event.amount", "greater_than_or_equal", 100000)],
        [pct(R, 1000)],
    ),
    case(
        "When a paid user refers someone who buys, if the order amount is at least 2000 rupees, "
        "5 percent commission",
        "purchase",
        [
            ("referrer.is_paid_user", "equals", True),
            ("event.amount", "greater_than_or_equal", 200000),
        ],
        [pct(R, 500)],
    ),
    case(
        "10 percent commission on purchases, capped at 1000 rupees, and 2 percent to the parent",
        "purchase",
        [],
        [pct(R, 1000, cap=100000), pct(P, 200)],
    ),
    case(
        "When a friend purchases, 10% to the referrer and 5% to the friend",
        "purchase",
        [],
        [pct(R, 1000), pct(F, 500)],
    ),
    case(
        "When a friend purchases, give the referrer 7.5% of the order value",
        "purchase",
        [],
        [pct(R, 750)],
    ),
    # flat amounts per currency, and points
    case(
        "When a paid user refers someone who subscribes to premium, reward 500 rupees voucher",
        "subscription_started",
        [
            ("referrer.is_paid_user", "equals", True),
            ("referred.subscription_plan", "equals", "premium"),
        ],
        [flat(R, 50000, reward_type="voucher")],
    ),
    case("When someone signs up, give the referrer ₹1,500 cash", "signup", [], [flat(R, 150000)]),
    case(
        "When someone signs up, give the referrer Rs. 250 voucher",
        "signup",
        [],
        [flat(R, 25000, reward_type="voucher")],
    ),
    case(
        "When someone signs up, give the referrer $10 cash",
        "signup",
        [],
        [flat(R, 1000, "USD")],
        currency="USD",
    ),
    case(
        "When someone signs up, give the referrer $10 cash",
        "signup",
        [],
        [flat(R, 1000, "USD")],
        warnings=("currency USD differs from the program's INR",),
    ),
    case(
        "When a friend signs up, give 25 euros to both",
        "signup",
        [],
        [flat(R, 2500, "EUR"), flat(F, 2500, "EUR")],
        currency="EUR",
    ),
    case(
        "When a friend signs up, give the referrer 500 yen cash",
        "signup",
        [],
        [flat(R, 500, "JPY")],
        currency="JPY",
    ),
    case(
        "When someone signs up, give the new user 100 points",
        "signup",
        [],
        [points(F, 100)],
    ),
    case(
        "When a friend joins, give both 50 points",
        "signup",
        [],
        [points(R, 50), points(F, 50)],
    ),
    case(
        "When a friend buys, give the referrer 100 rupees cash and the friend 50 rupees voucher",
        "purchase",
        [],
        [flat(R, 10000), flat(F, 5000, reward_type="voucher")],
    ),
    case(
        "When a friend signs up, give the referrer and the friend 50 rupees cash each",
        "signup",
        [],
        [flat(R, 5000), flat(F, 5000)],
    ),
    case(
        "When a friend signs up, give the referrer €5 voucher and the friend €5 voucher",
        "signup",
        [],
        [flat(R, 500, "EUR", "voucher"), flat(F, 500, "EUR", "voucher")],
        currency="EUR",
    ),
    case(
        "When a friend buys, give both 25 points each",
        "purchase",
        [],
        [points(R, 25), points(F, 25)],
    ),
    case(
        "When a friend subscribes, give the referrer's referrer 50 rupees cash",
        "subscription_started",
        [],
        [flat(P, 5000)],
    ),
    # ranges
    case(
        "When a friend's order is under 500 rupees, give the referrer 20 rupees cash",
        "purchase",
        [("event.amount", "less_than", 50000)],
        [flat(R, 2000)],
    ),
    case(
        "3% of orders between 500 and 5000 rupees to the referrer",
        "purchase",
        [("event.amount", "between", [50000, 500000])],
        [pct(R, 300)],
    ),
    # categories and plans
    case(
        "When a friend buys something in the electronics category, 3% to the referrer",
        "purchase",
        [("event.category", "equals", "electronics")],
        [pct(R, 300)],
    ),
    case(
        "5% of purchases to the referrer except in the gift cards category",
        "purchase",
        [("event.category", "not_equals", "gift cards")],
        [pct(R, 500)],
    ),
    case(
        "When a friend subscribes to the premium plan, give the referrer 1000 rupees voucher",
        "subscription_started",
        [("referred.subscription_plan", "equals", "premium")],
        [flat(R, 100000, reward_type="voucher")],
    ),
    case(
        "When someone on the gold plan buys, if the amount is at least ₹999, pay 50 rupees cash",
        "purchase",
        [
            ("referred.subscription_plan", "equals", "gold"),
            ("event.amount", "greater_than_or_equal", 99900),
        ],
        [flat(R, 5000)],
    ),
    # counts
    case(
        "If the referrer has at least 10 referrals and a friend subscribes, give 1000 rupees voucher",
        "subscription_started",
        [("referrer.referrals_count", "greater_than_or_equal", 10)],
        [flat(R, 100000, reward_type="voucher")],
    ),
    case(
        "When a friend signs up, give the referrer 100 rupees cash if they have fewer than "
        "50 referrals",
        "signup",
        [("referrer.referrals_count", "less_than", 50)],
        [flat(R, 10000)],
    ),
    case(
        "When a friend purchases more than 3 items, give the referrer 100 rupees cash",
        "purchase",
        [("event.quantity", "greater_than", 3)],
        [flat(R, 10000)],
    ),
    # time windows
    case(
        "When someone subscribes within 2 weeks of joining, give the referrer 200 rupees cash",
        "subscription_started",
        [("referred.joined_at", "within_last_days", 14)],
        [flat(R, 20000)],
    ),
    case(
        "When someone subscribes to the pro plan within 7 days of signing up, "
        "give both 100 rupees voucher",
        "subscription_started",
        [
            ("referred.subscription_plan", "equals", "pro"),
            ("referred.joined_at", "within_last_days", 7),
        ],
        [flat(R, 10000, reward_type="voucher"), flat(F, 10000, reward_type="voucher")],
    ),
    # negation
    case(
        "When someone signs up, give the referrer 100 rupees cash, except friends from Germany",
        "signup",
        [("referred.country", "not_equals", "DE")],
        [flat(R, 10000)],
    ),
    case(
        "When someone who is not from the UK signs up, give 5 pounds cash",
        "signup",
        [("referred.country", "not_equals", "GB")],
        [flat(R, 500, "GBP")],
        currency="GBP",
    ),
    case(
        "When a friend subscribes, give the referrer 200 rupees cash unless the referrer is "
        "from India",
        "subscription_started",
        [("referrer.country", "not_equals", "IN")],
        [flat(R, 20000)],
    ),
    case(
        "When a friend buys, unless the order is below 1000 rupees, give the referrer 50 rupees cash",
        "purchase",
        [("event.amount", "greater_than_or_equal", 100000)],
        [flat(R, 5000)],
    ),
    case(
        "When someone from India signs up, reward 20 rupees voucher to the referrer",
        "signup",
        [("referred.country", "equals", "IN")],
        [flat(R, 2000, reward_type="voucher")],
    ),
    case(
        "When someone signs up, give the referrer 100 rupees cash unless they are from the US, "
        "the UK or Canada",
        "signup",
        [("referred.country", "not_in", ["US", "GB", "CA"])],
        [flat(R, 10000)],
    ),
    case(
        "Give the referrer 200 rupees cash when a friend from India or Nepal buys",
        "purchase",
        [("referred.country", "in", ["IN", "NP"])],
        [flat(R, 20000)],
    ),
    case(
        "When someone signs up, give the referrer 100 rupees cash. Do not pay if they are "
        "from France.",
        "signup",
        [("referred.country", "not_equals", "FR")],
        [flat(R, 10000)],
    ),
    case(
        "When a friend buys more than 2 items worth over 3000 rupees, give the friend "
        "100 rupees voucher",
        "purchase",
        [("event.quantity", "greater_than", 2), ("event.amount", "greater_than", 300000)],
        [flat(F, 10000, reward_type="voucher")],
    ),
    # limits
    case(
        "When someone signs up, give the referrer 100 rupees cash, for the first 50 referrals only",
        "signup",
        [],
        [flat(R, 10000)],
        limits={"per_beneficiary": {"max_rewards": 50, "period": "all_time"}},
    ),
    case(
        "When a friend buys, 5% to the referrer, at most 10 rewards per referrer a month, "
        "with a budget of 100000 rupees",
        "purchase",
        [],
        [pct(R, 500)],
        limits={
            "per_beneficiary": {"max_rewards": 10, "period": "month"},
            "budget": {"max_amount": 10000000},
        },
    ),
    case(
        "When a friend upgrades to the pro plan, give the referrer 300 rupees voucher",
        "subscription_started",
        [("referred.subscription_plan", "equals", "pro")],
        [flat(R, 30000, reward_type="voucher")],
    ),
    case(
        "When a referral is created, give the referrer 10 points unless the referrer is a "
        "free user",
        "referral_created",
        [("referrer.is_paid_user", "equals", True)],
        [points(R, 10)],
    ),
    case(
        "Give 200 rupees cash to the friend and 100 rupees cash to the referrer when the "
        "friend's order is over 999",
        "purchase",
        [("event.amount", "greater_than", 99900)],
        [flat(F, 20000), flat(R, 10000)],
    ),
    case(
        "When a friend purchases give the referrer 100 rupees cash",
        "purchase",
        [],
        [flat(R, 10000)],
    ),
    case(
        "When a friend buys, give the referrer 5% of the order but not more than 300 rupees",
        "purchase",
        [],
        [pct(R, 500, cap=30000)],
    ),
    # stop other rules
    case(
        "When a friend purchases, give the referrer 100 rupees cash and stop",
        "purchase",
        [],
        [flat(R, 10000)],
        stop=True,
    ),
    case(
        "15% of the order to the referrer for orders over 5000 rupees, except in the books "
        "category, and stop other rules",
        "purchase",
        [("event.amount", "greater_than", 500000), ("event.category", "not_equals", "books")],
        [pct(R, 1500)],
        stop=True,
    ),
    case(
        "When a friend purchases, give the referrer 10% of the order, capped at 1000 rupees, "
        "and stop processing other rules",
        "purchase",
        [],
        [pct(R, 1000, cap=100000)],
        stop=True,
    ),
    # the unit: a money condition is in minor units of the program's currency
    case(
        "When a friend buys, give the referrer 100 rupees cash if the amount is greater than 5000",
        "purchase",
        [("event.amount", "greater_than", 500000)],
        [flat(R, 10000)],
    ),
    case(
        "5% of orders over $100 to the referrer",
        "purchase",
        [("event.amount", "greater_than", 10000)],
        [pct(R, 500)],
        currency="USD",
    ),
    case(
        "When a friend buys something over 5000 yen, give the referrer 500 yen cash",
        "purchase",
        [("event.amount", "greater_than", 5000)],
        [flat(R, 500, "JPY")],
        currency="JPY",
    ),
    case(
        "10% of orders over 5k rupees to the referrer",
        "purchase",
        [("event.amount", "greater_than", 500000)],
        [pct(R, 1000)],
    ),
    case(
        "When a friend buys, give the referrer 100 rupees cash if the order is more than "
        "2 lakh rupees",
        "purchase",
        [("event.amount", "greater_than", 20000000)],
        [flat(R, 10000)],
    ),
    case(
        "5% commission on purchases capped at 1.5k rupees",
        "purchase",
        [],
        [pct(R, 500, cap=150000)],
    ),
    # renewals
    case(
        "When a friend renews their subscription, give the referrer 50 rupees cash",
        "subscription_renewed",
        [],
        [flat(R, 5000)],
    ),
    case(
        "5% of every renewal to the referrer, capped at 200 rupees",
        "subscription_renewed",
        [],
        [pct(R, 500, cap=20000)],
    ),
    # tiers (referrer.tier holds the tier's key)
    case(
        "Gold partners get 15%",
        "purchase",
        [("referrer.tier", "equals", "gold")],
        [pct(R, 1500)],
        warnings=("no trigger recognised; a percentage is of an order's amount: assumed purchase",),
    ),
    case(
        "15% of every purchase to gold partners",
        "purchase",
        [("referrer.tier", "equals", "gold")],
        [pct(R, 1500)],
    ),
    case(
        "Gold partners get 15% of every purchase, and stop other rules",
        "purchase",
        [("referrer.tier", "equals", "gold")],
        [pct(R, 1500)],
        stop=True,
    ),
    case(
        "Partners on the gold tier earn 15% of purchases",
        "purchase",
        [("referrer.tier", "equals", "gold")],
        [pct(R, 1500)],
    ),
    case(
        "When a friend buys, pay gold-tier referrers 12% of the order",
        "purchase",
        [("referrer.tier", "equals", "gold")],
        [pct(R, 1200)],
    ),
    case(
        "When a friend buys, give the referrer 10% of the order if they are in the gold tier",
        "purchase",
        [("referrer.tier", "equals", "gold")],
        [pct(R, 1000)],
    ),
    case(
        "When someone signs up, give silver or gold partners 200 rupees cash",
        "signup",
        [("referrer.tier", "in", ["silver", "gold"])],
        [flat(R, 20000)],
    ),
    case(
        "5% of purchases to the referrer except bronze partners",
        "purchase",
        [("referrer.tier", "not_equals", "bronze")],
        [pct(R, 500)],
    ),
    case(
        "When a gold partner refers someone who signs up, give the partner 100 rupees cash",
        "signup",
        [("referrer.tier", "equals", "gold")],
        [flat(R, 10000)],
    ),
    # schedules (UTC; "until" includes its day)
    case(
        "When a friend purchases, 5% to the referrer from 1 January until 31 March",
        "purchase",
        [],
        [pct(R, 500)],
        schedule={
            "active_from": "2027-01-01T00:00:00+00:00",
            "active_until": "2027-04-01T00:00:00+00:00",
        },
        warnings=(
            "no year given for 1 January: read as 2027",
            "no year given for 31 March: read as 2027",
        ),
    ),
    case(
        "When someone signs up, give the referrer 100 rupees cash from 1 January 2027 to "
        "31 March 2027",
        "signup",
        [],
        [flat(R, 10000)],
        schedule={
            "active_from": "2027-01-01T00:00:00+00:00",
            "active_until": "2027-04-01T00:00:00+00:00",
        },
    ),
    case(
        "When someone signs up, give the referrer 100 rupees cash until 31 December",
        "signup",
        [],
        [flat(R, 10000)],
        schedule={"active_until": "2027-01-01T00:00:00+00:00"},
        warnings=("no year given for 31 December: read as 2026",),
    ),
    case(
        "Gold partners get 10% of every purchase between March 1 and April 30, 2027",
        "purchase",
        [("referrer.tier", "equals", "gold")],
        [pct(R, 1000)],
        schedule={
            "active_from": "2027-03-01T00:00:00+00:00",
            "active_until": "2027-05-01T00:00:00+00:00",
        },
        warnings=("no year given for 1 March: read as 2027",),
    ),
]

# Sentences with parts the drafter cannot map: each such part must be named in a warning, and
# no condition may be made up (or turned around) for it.
UNMAPPABLE: list[dict[str, Any]] = [
    {
        "text": "When someone signs up, give the referrer 100 rupees cash unless they have a "
        "gmail address",
        "words": ("unless", "gmail", "address"),
        "conditions": [],
    },
    {
        "text": "When a friend subscribes, give the referrer 100 rupees cash unless they are "
        "from Narnia",
        "words": ("unless", "narnia"),
        "conditions": [],
    },
    {
        "text": "Top referrers get 15% of every purchase",
        "words": ("top referrers",),
        "conditions": [],
    },
    {
        "text": "When a friend buys, give the referrer 50 rupees cash from 31 February",
        "words": ("'31 February' is not a date",),
        "conditions": [],
    },
    {
        "text": "When a friend buys on a weekend, give the referrer 50 rupees cash",
        "words": ("weekend",),
        "conditions": [],
    },
    {
        "text": "When a friend purchases, 5% of the order to the referrer, at least 50 rupees",
        "words": ("at least 50 rupees",),
        "conditions": [],
    },
    {
        "text": "When someone signs up, give the referrer 100 rupees cash if they have no "
        "referrals",
        "words": ("have no", "'no' was not tied to a condition"),
        "conditions": [],
    },
]
