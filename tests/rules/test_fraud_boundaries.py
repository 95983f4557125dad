"""rules/fraud.py at its boundaries: each threshold one below, at and one above, each edge of the
velocity window, and each way attributes may (not) match. A `>` turned into `>=` (or a window
edge moved by one) fails here."""

from __future__ import annotations

from datetime import UTC as utc
from datetime import datetime, timedelta

import pytest

from rules.fraud import fraud_hold_reason
from rules.models import Participant, Referral
from rules.rewards.models import Reward
from rules.selectors import rules_config_get
from tests.rules.conftest import ALWAYS, reward_action, rule_def

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=utc)
TICK = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def config(program):
    config = rules_config_get(program=program)
    config.fraud_match_attributes = ["email"]  # velocity tests: no attribute can match
    config.fraud_max_referrals_per_hour = 0
    config.save()
    return config


@pytest.fixture
def person(program):
    def make(external_id: str, **attributes) -> Participant:
        return Participant.objects.create(
            program=program,
            external_id=external_id,
            attributes=attributes,
            referral_code=external_id.upper(),
        )

    return make


@pytest.fixture
def referral(program, person):
    """referral(referrer, referred_id, at) → the referred participant."""

    def make(referrer: Participant, referred_id: str, at: datetime) -> Participant:
        referred = person(referred_id)
        Referral.objects.create(
            program=program, referrer=referrer, referred=referred, created_at=at
        )
        return referred

    return make


def _hold(config, referrer: Participant, referred: Participant) -> str:
    return fraud_hold_reason(config=config, roles={"referrer": referrer, "referred": referred})


def _velocity(count: int, limit: int) -> str:
    return f"referral velocity: {count} referrals within an hour (limit {limit})"


# --- velocity: the count ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("made", "held"),
    [(2, False), (3, False), (4, True)],
    ids=["one below the limit", "at the limit", "one above the limit"],
)
def test_velocity_holds_only_above_the_limit(config, person, referral, made, held):
    config.fraud_max_referrals_per_hour = 3
    alice = person("alice")
    # `made` referrals within the hour; the last one brought the user the event is about.
    referred = [referral(alice, f"u{i}", T0 + i * TICK) for i in range(made)]
    reason = _hold(config, alice, referred[-1])
    assert reason == (_velocity(made, 3) if held else "")


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [1, 2])
def test_velocity_at_small_limits(config, person, referral, limit):
    config.fraud_max_referrals_per_hour = limit
    alice = person("alice")
    referred = [referral(alice, f"u{i}", T0 + i * TICK) for i in range(limit + 1)]
    assert _hold(config, alice, referred[limit - 1]) == ""  # exactly `limit`
    assert _hold(config, alice, referred[limit]) == _velocity(limit + 1, limit)


@pytest.mark.django_db
def test_velocity_zero_turns_it_off(config, person, referral):
    alice = person("alice")
    referred = [referral(alice, f"u{i}", T0 + i * TICK) for i in range(5)]
    assert config.fraud_max_referrals_per_hour == 0
    assert _hold(config, alice, referred[-1]) == ""


@pytest.mark.django_db
def test_velocity_counts_only_this_referrers_referrals(config, person, referral):
    config.fraud_max_referrals_per_hour = 1
    alice, bob = person("alice"), person("bob")
    referral(bob, "b1", T0)
    referral(bob, "b2", T0 + TICK)
    mine = referral(alice, "a1", T0 + 2 * TICK)
    assert _hold(config, alice, mine) == ""


@pytest.mark.django_db
def test_velocity_needs_the_referred_users_referral(config, person, referral):
    """No referral brought this user (the roles come from elsewhere): nothing to count."""
    config.fraud_max_referrals_per_hour = 1
    alice = person("alice")
    referral(alice, "u1", T0)
    referral(alice, "u2", T0 + TICK)
    assert _hold(config, alice, person("walk_in")) == ""


# --- velocity: the window (created_at in (referral - 1h, referral]) ----------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("offset", "counted"),
    [
        (-HOUR - TICK, False),  # more than an hour before
        (-HOUR, False),  # exactly an hour before: the window is open at its start
        (-HOUR + TICK, True),  # just inside
        (-TICK, True),
        (timedelta(0), True),  # the same instant: the window is closed at its end
        (TICK, False),  # after the referral: a later burst does not hold earlier rewards
    ],
)
def test_velocity_window_edges(config, person, referral, offset, counted):
    config.fraud_max_referrals_per_hour = 1
    alice = person("alice")
    referral(alice, "other", T0 + offset)
    target = referral(alice, "target", T0)
    assert _hold(config, alice, target) == (_velocity(2, 1) if counted else "")


# --- self-referral by matching attributes ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mine", "theirs", "held"),
    [
        ("a@x.com", "a@x.com", True),
        (" A@X.com ", "a@x.COM", True),  # case and surrounding spaces do not hide a match
        ("a@x.com", "b@x.com", False),
        ("", "", False),  # empty is no evidence
        ("  ", "  ", False),  # nor is blank
        ("", "  ", False),
        ("  ", "", False),
        (None, None, False),
        ("a@x.com", None, False),
        (None, "a@x.com", False),
        ("", "a@x.com", False),
        (123, "123", True),  # compared as text
    ],
)
def test_attribute_match(config, person, mine, theirs, held):
    config.fraud_match_attributes = ["email"]
    referrer = person("alice", **({} if theirs is None else {"email": theirs}))
    referred = person("bob", **({} if mine is None else {"email": mine}))
    reason = _hold(config, referrer, referred)
    expected = "self-referral suspected: referrer and referred share email"
    assert reason == (expected if held else "")


@pytest.mark.django_db
def test_only_the_configured_attributes_are_compared(config, person):
    config.fraud_match_attributes = ["device_id"]
    referrer = person("alice", email="same@x.com", device_id="d1")
    referred = person("bob", email="same@x.com", device_id="d2")
    assert _hold(config, referrer, referred) == ""


@pytest.mark.django_db
def test_default_attributes_when_none_are_configured(config, person):
    config.fraud_match_attributes = []
    referrer = person("alice", email="a@x.com", device_id="d1", ip="10.0.0.1", plan="gold")
    referred = person("bob", email="A@x.com", device_id="d2", ip="10.0.0.1", plan="gold")
    assert _hold(config, referrer, referred) == (
        "self-referral suspected: referrer and referred share email; "
        "self-referral suspected: referrer and referred share ip"
    )


@pytest.mark.django_db
def test_both_signals_are_reported(config, person, referral):
    config.fraud_match_attributes = ["ip"]
    config.fraud_max_referrals_per_hour = 1
    alice = person("alice", ip="10.0.0.1")
    referral(alice, "u1", T0)
    bob = referral(alice, "bob", T0 + TICK)
    Participant.objects.filter(pk=bob.pk).update(attributes={"ip": "10.0.0.1"})
    bob.refresh_from_db()
    assert _hold(config, alice, bob) == (
        "self-referral suspected: referrer and referred share ip; " + _velocity(2, 1)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["referrer", "referred"])
def test_no_signal_without_both_roles(config, person, missing):
    config.fraud_match_attributes = ["email"]
    roles = {
        "referrer": person("alice", email="a@x.com"),
        "referred": person("bob", email="a@x.com"),
    }
    del roles[missing]
    assert fraud_hold_reason(config=config, roles=roles) == ""


# --- end to end: the burst at the limit through event processing -------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_referral_at_the_limit_is_not_held_the_next_one_is(program, publish, refer, ingest):
    config = rules_config_get(program=program)
    config.fraud_max_referrals_per_hour = 2
    config.save()
    publish(rule_def(conditions=ALWAYS, actions=[reward_action(500)]))
    for user in ("u1", "u2", "u3"):
        refer("alice", user)
    for n, user in enumerate(("u1", "u2", "u3"), 1):
        ingest(f"e-{n}", "subscription_started", user)
    holds = dict(Reward.objects.values_list("metadata__event", "hold_reason"))
    assert holds["e-1"] == "" and holds["e-2"] == ""  # one below and at the limit
    assert holds["e-3"].startswith(_velocity(3, 2))
