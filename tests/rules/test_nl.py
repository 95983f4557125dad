"""The offline natural-language parser (deterministic, no network)."""

from __future__ import annotations

import pytest

from rules.catalog import catalog_for
from rules.nl import draft_from_text, parse_offline
from rules.validation import validate_definition
from tests.spec_examples import SPEC_EXAMPLE_RULE as EXAMPLE

CATALOG = catalog_for()


def draft(text, **kwargs):
    return draft_from_text(text, catalog=CATALOG, **kwargs)


def test_spec_sentence_gives_the_spec_example_offline():
    result = draft(
        "When a paid user refers someone who subscribes to premium, reward 500 rupees voucher"
    )
    assert result == {"definition": EXAMPLE, "source": "offline", "warnings": []}


def conditions(result):
    return [
        (c["field"], c["operator"], c["value"])
        for c in result["definition"]["conditions"]["conditions"]
    ]


def test_signup_with_points_for_the_referred_user():
    result = draft("When someone signs up, give the referred user 100 points")
    definition = result["definition"]
    assert definition["trigger"] == "signup"
    assert definition["actions"] == [
        {
            "type": "award_credits",
            "params": {"beneficiary": "referred", "operation": "CREDIT_ADD", "amount": 100},
        }
    ]
    assert result["warnings"] == []


def test_purchase_with_amount_condition_and_both_beneficiaries():
    result = draft(
        "When a friend purchases, if order amount is over 2,000 rupees, reward both 250 rupees cash"
    )
    definition = result["definition"]
    assert definition["trigger"] == "purchase"
    assert conditions(result) == [("event.amount", "greater_than", 200000)]
    assert [a["params"]["beneficiary"] for a in definition["actions"]] == ["referrer", "referred"]
    assert {a["params"]["amount"] for a in definition["actions"]} == {25000}
    # 2,000 rupees is stored as 200000 paise, the unit event.amount is in: no warning needed
    assert result["warnings"] == []


def test_commission_with_cap_and_parent_override():
    result = draft(
        "10 percent commission on purchases, capped at 1000 rupees, and 2 percent to the parent"
    )
    definition = result["definition"]
    assert definition["name"] == "Purchase commission"
    assert definition["trigger"] == "purchase"
    assert definition["actions"] == [
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "referrer",
                "rate_bps": 1000,
                "of": "event.amount",
                "reward_type": "cash",
                "cap": 100000,
            },
        },
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "parent",
                "rate_bps": 200,
                "of": "event.amount",
                "reward_type": "cash",
            },
        },
    ]
    assert result["warnings"] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "When a free user refers someone who joins, give $5 credit",
            [("referrer.is_paid_user", "equals", False)],
        ),
        (
            "When someone on the gold plan buys, if the amount is at least ₹999, pay 50 rupees cash",
            [
                ("referred.subscription_plan", "equals", "gold"),
                ("event.amount", "greater_than_or_equal", 99900),
            ],
        ),
        (
            "When someone from India signs up within 7 days of joining, reward 20 rupees voucher",
            [("referred.country", "equals", "IN"), ("referred.joined_at", "within_last_days", 7)],
        ),
        (
            "If the referrer has at least 5 referrals and a friend subscribes, give 1000 rupees voucher",
            [("referrer.referrals_count", "greater_than_or_equal", 5)],
        ),
    ],
)
def test_family_of_sentences(text, expected):
    result = draft(text)
    assert conditions(result) == expected
    assert validate_definition(result["definition"], catalog=CATALOG) == []


def test_currency_and_type_defaults_are_warned():
    result = draft("When someone signs up, reward 50", currency="USD")
    assert result["definition"]["actions"][0]["params"] == {
        "beneficiary": "referrer",
        "amount": 5000,
        "currency": "USD",
        "reward_type": "cash",
    }
    assert result["warnings"] == [
        "no currency given for 50; assumed USD",
        "no reward type given (voucher, cash, credit); assumed cash",
    ]


def test_unknown_parts_become_warnings_and_the_draft_still_comes_back():
    result = draft("Reward the referrer with a pony when the moon is full")
    assert result["source"] == "offline"
    warnings = result["warnings"]
    assert any(w.startswith("no trigger recognised") for w in warnings)
    assert any(w.startswith("no reward recognised") for w in warnings)
    assert "not understood: referrer pony moon full" in warnings
    assert "$.actions: [] should be non-empty" in warnings  # validation, as a warning


def test_understood_parts_survive_unknown_words():
    result = draft(
        "When a paid user refers someone who subscribes to premium on a tuesday, "
        "reward 500 rupees voucher"
    )
    assert result["definition"] == EXAMPLE
    assert result["warnings"] == ["not understood: tuesday"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "reward",
        "10 percent commission",
        "When someone refunds, reward 5 dollars",
        "When a user subscribes to the plan, give 1,00,000 rupees voucher",
    ],
)
def test_output_always_validates_or_carries_warnings(text):
    result = parse_offline(text, catalog=CATALOG)
    errors = validate_definition(result["definition"], catalog=CATALOG)
    assert not errors or result["warnings"]


def test_offline_is_deterministic():
    text = "When a paid user refers someone who purchases, 5 percent commission"
    assert draft(text) == draft(text)


def test_amounts_use_the_currency_minor_unit():
    """JPY has no minor unit: 500 yen is 500, not 50000; KWD has three decimals."""
    yen = parse_offline(
        "When someone subscribes, reward the referrer 500 cash", catalog=CATALOG, currency="JPY"
    )
    assert yen["definition"]["actions"][0]["params"]["amount"] == 500
    assert yen["definition"]["actions"][0]["params"]["currency"] == "JPY"
    dinar = parse_offline(
        "When someone subscribes, reward the referrer 1.5 cash", catalog=CATALOG, currency="KWD"
    )
    assert dinar["definition"]["actions"][0]["params"]["amount"] == 1500


def schedule_of(text, today=None):
    from datetime import date

    result = parse_offline(text, catalog=CATALOG, currency="INR", today=today or date(2026, 12, 7))
    definition = result["definition"]
    return (definition.get("active_from"), definition.get("active_until")), result["warnings"]


def test_a_schedule_without_a_year_is_the_next_such_day():
    from datetime import date

    text = "When someone signs up, give the referrer 100 rupees cash from 1 January until 31 March"
    assert schedule_of(text, today=date(2027, 1, 1)) == (
        ("2027-01-01T00:00:00+00:00", "2027-04-01T00:00:00+00:00"),
        ["no year given for 1 January: read as 2027", "no year given for 31 March: read as 2027"],
    )
    # the end follows the start: "from 1 November until 31 January" crosses the new year
    text = (
        "When someone signs up, give the referrer 100 rupees cash from 1 November until 31 January"
    )
    (start, end), _ = schedule_of(text, today=date(2026, 10, 1))
    assert (start, end) == ("2026-11-01T00:00:00+00:00", "2027-02-01T00:00:00+00:00")


@pytest.mark.parametrize(
    ("text", "schedule", "warning"),
    [
        ("from 31 February until 30 March", (None, None), "'31 February' is not a date"),
        ("until 31 December 9999", (None, None), "the schedule's last day is out of range"),
        (
            "from January 5th, 2027 through March 1st, 2027",
            ("2027-01-05T00:00:00+00:00", "2027-03-02T00:00:00+00:00"),
            None,
        ),
        (
            "starting 1st of april 2027",
            ("2027-04-01T00:00:00+00:00", None),
            None,
        ),
    ],
)
def test_schedule_edges(text, schedule, warning):
    got, warnings = schedule_of("When someone signs up, give the referrer 100 rupees cash " + text)
    assert got == schedule
    if warning:
        assert any(warning in w for w in warnings), warnings
    else:
        assert warnings == []


def test_an_end_before_the_start_is_a_validation_warning_not_a_silent_swap():
    got, warnings = schedule_of(
        "When someone signs up, give the referrer 100 rupees cash from 31 March 2027 until "
        "1 January 2027"
    )
    assert got == ("2027-03-31T00:00:00+00:00", "2027-01-02T00:00:00+00:00")
    assert any(w.startswith("$.active_until") for w in warnings), warnings


@pytest.mark.parametrize(
    "text",
    [
        "When a friend buys, give the referring partner 100 rupees cash",
        "When a new partner signs up, give our partners 50 rupees cash",
        "When a friend buys, give 5% to both partners",
        "When a friend subscribes to the gold plan, give the referrer 100 rupees cash",
    ],
)
def test_words_before_partners_that_name_no_tier_make_no_tier_condition(text):
    result = parse_offline(text, catalog=CATALOG, currency="INR")
    fields = [c.get("field") for c in result["definition"]["conditions"]["conditions"]]
    assert "referrer.tier" not in fields


PROGRAM_TIERS = {"t1": "Starter", "gold": "Gold"}


def tier_conditions(text, tiers=None):
    result = parse_offline(text, catalog=CATALOG, currency="INR", tiers=tiers)
    leaves = result["definition"]["conditions"]["conditions"]
    return [(c["field"], c["operator"], c["value"]) for c in leaves], result["warnings"]


@pytest.mark.parametrize(
    ("text", "tiers", "conditions", "warning"),
    [
        # the program's tier found by its name or its key
        ("Starter partners get 5% of every purchase", PROGRAM_TIERS, "t1", None),
        ("T1 partners get 5% of every purchase", PROGRAM_TIERS, "t1", None),
        ("Gold partners get 15% of every purchase", PROGRAM_TIERS, "gold", None),
        # a word the program has no tier for is not made into one
        ("Platinum partners get 5% of every purchase", PROGRAM_TIERS, None, "platinum partners"),
        ("Verified partners get 5% of every purchase", None, None, "verified partners"),
        ("Active affiliates get 5% of every purchase", None, None, "active affiliates"),
        # ... unless the sentence says "tier": then it is drafted and warned about
        (
            "Partners in the platinum tier get 5% of every purchase",
            PROGRAM_TIERS,
            "platinum",
            "no tier 'platinum' in this program (tiers: gold, t1)",
        ),
        # tiers not known: common tier names and anything called a tier
        ("Gold partners get 5% of every purchase", None, "gold", None),
        ("Partners in the starter tier get 5% of every purchase", None, "starter", None),
    ],
)
def test_tier_words(text, tiers, conditions, warning):
    found, warnings = tier_conditions(text, tiers)
    assert found == ([("referrer.tier", "equals", conditions)] if conditions else [])
    if warning:
        assert any(warning in w for w in warnings), warnings
    else:
        assert warnings == []


def test_the_program_tiers_reach_the_model_prompt():
    from rules.llm import build_request

    request = build_request("Gold partners get 15%", catalog=CATALOG, tiers=PROGRAM_TIERS)
    assert (
        'The program\'s partner tiers (referrer.tier values): "gold" (Gold), "t1" (Starter).'
        in request["messages"][0]["content"]
    )
