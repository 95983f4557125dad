"""Referrals: one referrer each, no self-referral, no cycles (SPEC §6 error codes)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from rules.models import Participant, Referral


@pytest.mark.django_db
def test_referral_by_id_creates_unknown_participants(api, url):
    response = api.post(url("referrals"), {"referrer": "alice", "referred": "bob"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["referrer"] == "alice" and response.json()["referred"] == "bob"
    assert set(Participant.objects.values_list("external_id", flat=True)) == {"alice", "bob"}


@pytest.mark.django_db
def test_referral_by_code(api, url):
    code = api.put(url("participants/alice"), {"attributes": {}}, format="json").json()[
        "referral_code"
    ]
    response = api.post(
        url("referrals"), {"referral_code": code.lower(), "referred": "bob"}, format="json"
    )
    assert response.status_code == 201
    assert Referral.objects.get().referrer.external_id == "alice"
    unknown = api.post(url("referrals"), {"referral_code": "NOPE", "referred": "x"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "referral_code"
    both = api.post(
        url("referrals"),
        {"referral_code": code, "referrer": "alice", "referred": "y"},
        format="json",
    )
    assert both.status_code == 400


@pytest.mark.django_db
def test_self_referral(api, url):
    response = api.post(url("referrals"), {"referrer": "alice", "referred": "alice"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "self_referral"
    code = api.put(url("participants/bob"), {"attributes": {}}, format="json").json()[
        "referral_code"
    ]
    by_code = api.post(url("referrals"), {"referral_code": code, "referred": "bob"}, format="json")
    assert by_code.json()["code"] == "self_referral"
    assert not Referral.objects.exists()


@pytest.mark.django_db
def test_already_referred(api, url):
    api.post(url("referrals"), {"referrer": "alice", "referred": "bob"}, format="json")
    again = api.post(url("referrals"), {"referrer": "carol", "referred": "bob"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_referred"
    assert Referral.objects.get().referrer.external_id == "alice"


@pytest.mark.django_db
def test_cycles_are_refused(api, url):
    for referrer, referred in [("a", "b"), ("b", "c"), ("c", "d")]:
        api.post(url("referrals"), {"referrer": referrer, "referred": referred}, format="json")
    direct = api.post(url("referrals"), {"referrer": "b", "referred": "a"}, format="json")
    far = api.post(url("referrals"), {"referrer": "d", "referred": "a"}, format="json")
    for response in (direct, far):
        assert response.status_code == 400 and response.json()["code"] == "referral_cycle"
    assert Referral.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_opposite_referrals_cannot_form_a_cycle(program):
    """A→B and B→A at the same moment: each alone is fine, together they are a cycle."""
    from config.platform.exceptions import DomainError
    from rules.services.participants import participant_get_or_create
    from rules.services.referrals import referral_create

    for name in ("a", "b"):
        participant_get_or_create(program=program, external_id=name, actor="test")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(referrer: str, referred: str) -> None:
        try:
            barrier.wait()
            referral_create(program=program, referrer=referrer, referred=referred, actor="t")
            outcomes.append("created")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=p) for p in [("a", "b"), ("b", "a")]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", "referral_cycle"]
    assert Referral.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_referrals_of_one_person_keep_one_referrer(program):
    from config.platform.exceptions import DomainError
    from rules.services.referrals import referral_create

    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt(referrer: str) -> None:
        try:
            barrier.wait()
            referral_create(program=program, referrer=referrer, referred="target", actor="t")
            outcomes.append("created")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_referred"] * 3 + ["created"]
    assert Referral.objects.filter(referred__external_id="target").count() == 1
