"""Tiers in the operator console: criteria typed as fields, the revenue in major units of the
program's currency, checked, audited; the change log read-only; who may do what."""

from __future__ import annotations

import pytest

from config.platform.models import AuditEntry
from rules.models import Participant
from rules.tiers.models import Tier, TierChange
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

ADD = "/admin/tiers/tier/add/"


def form(program, **changes) -> dict:
    return {
        "program": program.pk,
        "key": "gold",
        "name": "Gold",
        "rank": "3",
        "window_days": "60",
        "min_referred_revenue": "5,000.50",
        "min_conversions": "3",
        "min_active_referrals": "",
        **changes,
    }


def test_a_rule_author_adds_a_tier_in_major_units(program, staff, refer, buy):
    refer("alice", "bob")
    buy("bob", 500050)
    buy("bob", 1)
    buy("bob", 1)
    author = staff("rita", "rule authors")
    page = author.get(ADD).content.decode()
    assert "Min referred revenue (INR)" in page

    response = author.post(ADD, form(program))

    assert response.status_code == 302, response.content.decode()
    tier = Tier.objects.get(key="gold")
    assert tier.criteria == {
        "window_days": 60,
        "min_referred_revenue": 500050,
        "min_conversions": 3,
    }
    entry = AuditEntry.objects.get(action="tier.created")
    assert entry.after is not None
    assert entry.actor == "user:rita" and entry.after["criteria"] == tier.criteria
    # Saving recomputed the program: alice is gold at once, not tonight.
    assert Participant.objects.get(external_id="alice").tier == "gold"
    assert TierChange.objects.get().reason == "recompute"
    listing = author.get("/admin/tiers/tier/").content.decode()
    assert "revenue ≥ 5,000.50 INR, conversions ≥ 3 over 60 days" in listing
    change = author.get(f"/admin/tiers/tier/{tier.pk}/change/").content.decode()
    assert 'value="5,000.50"' in change


@pytest.mark.parametrize(
    "changes",
    [
        {"min_referred_revenue": "50.001"},  # INR has two decimals
        {"min_referred_revenue": "-5"},
        {"min_referred_revenue": "1e9"},
        {"min_conversions": "-1"},
        {"window_days": "0"},
        {"window_days": "99999"},
        {"key": "Gold Tier"},
        {"key": "bronze"},  # taken
        {"rank": "1"},  # taken
        {"rank": "2147483647"},  # past the cap a replace needs room above
        {"name": "x" * 101},
    ],
)
def test_bad_input_is_refused_on_the_form(program, staff, tiers, changes):
    author = staff("rita", "rule authors")
    before = list(Tier.objects.values_list("key", "rank", "criteria").order_by("rank"))
    response = author.post(ADD, form(program, **{"key": "platinum", "rank": "9", **changes}))
    assert response.status_code == 200  # the form again, with the error
    assert "errornote" in response.content.decode()
    assert list(Tier.objects.values_list("key", "rank", "criteria").order_by("rank")) == before


def test_changing_a_tier_keeps_its_key_and_rank_clash_is_an_error(program, staff, tiers):
    author = staff("rita", "rule authors")
    silver = Tier.objects.get(key="silver")
    url = f"/admin/tiers/tier/{silver.pk}/change/"
    clash = author.post(url, {**form(program), "name": "Silver", "rank": "3"})
    assert clash.status_code == 200 and "Another tier of this program has this rank" in (
        clash.content.decode()
    )
    ok = author.post(url, {**form(program), "name": "Silver+", "rank": "2", "key": "hacked"})
    assert ok.status_code == 302
    silver.refresh_from_db()
    assert (silver.key, silver.name) == ("silver", "Silver+")
    before = AuditEntry.objects.get(action="tier.changed").before
    assert before is not None and before["name"] == "Silver"


def test_operators_read_tiers_and_changes_but_change_nothing(program, staff, tiers, refer, buy):
    refer("alice", "bob")
    buy("bob", 1)
    from rules.tiers.services import tiers_recompute_all

    tiers_recompute_all()
    ops = staff("olga", "operators")
    assert ops.get("/admin/tiers/tier/").status_code == 200
    log = ops.get("/admin/tiers/tierchange/")
    assert log.status_code == 200 and "alice" in log.content.decode()
    assert ops.get(ADD).status_code == 403
    assert ops.post(ADD, form(program, key="platinum", rank="9")).status_code == 403
    change = TierChange.objects.get(participant__external_id="alice")
    assert (
        ops.post(f"/admin/tiers/tierchange/{change.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert staff("kim", "key managers").get("/admin/tiers/tier/").status_code == 403


def test_recompute_now_is_for_those_who_may_change_tiers(
    program, staff, tiers, refer, buy, events_before_tiers
):
    refer("alice", "bob")
    buy("bob", 1)
    payload = {"action": "recompute", "_selected_action": [tiers[0].pk]}
    ops = staff("olga", "operators")
    assert 'value="recompute"' not in ops.get("/admin/tiers/tier/").content.decode()
    ops.post("/admin/tiers/tier/", payload)
    assert not TierChange.objects.exists()
    author = staff("rita", "rule authors")
    assert author.post("/admin/tiers/tier/", payload).status_code == 302
    assert Participant.objects.get(external_id="alice").tier == "bronze"
    assert set(TierChange.objects.values_list("reason", flat=True)) == {"recompute"}
