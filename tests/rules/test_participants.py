"""Participants: upsert with attribute merge, tree and stats (SPEC §6)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_put_creates_then_merges_attributes(api, url):
    created = api.put(
        url("participants/alice"), {"attributes": {"plan": "free", "country": "IN"}}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["external_id"] == "alice" and body["referred_by"] is None
    assert len(body["referral_code"]) == 8
    updated = api.put(url("participants/alice"), {"attributes": {"plan": "pro"}}, format="json")
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"plan": "pro", "country": "IN"}
    assert updated.json()["referral_code"] == body["referral_code"]
    assert api.get(url("participants/alice")).json() == updated.json()


def test_put_refuses_bad_attributes_and_changes_nothing(api, url):
    from rules.models import Participant

    assert api.put(url("participants/a"), {"attributes": [1]}, format="json").status_code == 400
    reserved = api.put(url("participants/a"), {"attributes": {"id": "x"}}, format="json")
    assert reserved.status_code == 400
    assert reserved.json()["errors"] == [{"field": "attributes.id", "message": "reserved name"}]
    typo = api.put(url("participants/a"), {"atributes": {}}, format="json")
    assert typo.status_code == 400 and typo.json()["code"] == "validation_error"
    assert not Participant.objects.exists()


def test_unknown_participant_is_404(api, url):
    response = api.get(url("participants/nobody"))
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert api.get(url("participants/nobody/tree")).status_code == 404


def test_other_programs_participants_are_invisible(api, url, program):
    from rules.rewards.services.programs import program_create
    from rules.services.participants import participant_upsert

    other, _ = program_create(slug="other", name="Other", currency="USD")
    participant_upsert(program=other, external_id="alice", attributes={}, actor="test")
    assert api.get(url("participants/alice")).status_code == 404
    assert api.get(url("participants/alice", slug="other")).status_code == 404


def test_tree_shows_two_levels(api, url, refer):
    refer("alice", "bob")
    refer("alice", "carol")
    refer("bob", "dave")
    refer("dave", "erin")  # third level: not shown
    tree = api.get(url("participants/alice/tree")).json()
    assert tree["external_id"] == "alice"
    assert [c["external_id"] for c in tree["children"]] == ["bob", "carol"]
    bob = tree["children"][0]
    assert [c["external_id"] for c in bob["children"]] == ["dave"]
    assert "children" not in bob["children"][0]
    assert api.get(url("participants/bob")).json()["referred_by"] == "alice"


def test_stats_count_referrals_and_rewards(api, url, refer, program):
    from rules.rewards.services.rewards import reward_confirm, reward_create

    refer("alice", "bob")
    refer("alice", "carol")
    refer("bob", "dave")
    for amount in (100, 250):
        reward, _ = reward_create(
            program=program,
            beneficiary="alice",
            amount=amount,
            currency="INR",
            reward_type="cash",
            actor="test",
        )
    reward_confirm(reward=reward, actor="test")
    stats = api.get(url("participants/alice/stats")).json()
    assert stats["referrals"] == {"direct": 2, "indirect": 1}
    assert stats["rewards"] == {"currency": "INR", "pending": 100, "available": 250, "paid": 0}
