"""GET/PUT P/tiers: permissions, the shape, hostile bodies answered 400 with nothing changed."""

from __future__ import annotations

from itertools import count

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from config.platform.models import AuditEntry
from rules.models import Participant
from rules.tiers.models import Tier

pytestmark = pytest.mark.django_db

SERIAL = count()
NEW = [
    {"key": "silver", "name": "Silver", "rank": 1, "criteria": {"min_conversions": 1}},
    {
        "key": "gold",
        "name": "Gold",
        "rank": 2,
        "criteria": {"window_days": 60, "min_referred_revenue": 100000},
    },
]


def staff(*groups: str) -> APIClient:
    name = f"{'-'.join(groups) or 'nobody'}-{next(SERIAL)}"
    user = get_user_model().objects.create_user(username=name, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    client = APIClient()
    client.force_login(user)
    return client


def test_get_lists_tiers_lowest_first_with_the_currency(api, url, tiers):
    response = api.get(url("tiers"))
    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "INR"
    assert [t["key"] for t in body["tiers"]] == ["bronze", "silver", "gold"]
    assert body["tiers"][2]["criteria"]["min_referred_revenue"] == 500000


def test_put_replaces_and_recomputes(api, url, program, tiers, refer, buy):
    refer("alice", "bob")
    buy("bob", 150000)
    response = api.put(url("tiers"), {"tiers": NEW}, format="json")
    assert response.status_code == 200, response.json()
    assert [t["key"] for t in response.json()["tiers"]] == ["silver", "gold"]
    assert Participant.objects.get(external_id="alice").tier == "gold"
    assert Participant.objects.get(external_id="bob").tier == ""
    [entry] = AuditEntry.objects.filter(action="tiers.replaced")
    assert entry.actor not in ("", "system")
    assert entry.after is not None
    assert [t["key"] for t in entry.after["tiers"]] == ["silver", "gold"]


@pytest.mark.parametrize(
    "body",
    [
        {"tiers": "gold"},
        {"tiers": [{"key": "gold"}]},
        {"tiers": [{**NEW[0], "criteria": {"min_conversions": "1"}}]},
        {"tiers": [{**NEW[0], "criteria": {"min_referred_revenue": 10**30}}]},
        {"tiers": [{**NEW[0], "key": "Gold Tier"}]},
        {"tiers": [{**NEW[0], "name": "nul\u0000"}]},
        {"tiers": [NEW[0], {**NEW[1], "rank": 1}]},
        {"tiers": NEW, "extra": 1},
        {"tiers": [NEW[0]] * 51},
        [],
    ],
)
def test_hostile_bodies_are_400_and_change_nothing(api, url, tiers, body):
    response = api.put(url("tiers"), body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"
    assert sorted(Tier.objects.values_list("key", flat=True)) == ["bronze", "gold", "silver"]


def test_permissions(url, program, tiers):
    assert staff("operators").get(url("tiers")).status_code == 200
    assert staff("operators").put(url("tiers"), {"tiers": NEW}, format="json").status_code == 403
    assert staff().get(url("tiers")).status_code == 403
    author = staff("rule authors")
    assert author.put(url("tiers"), {"tiers": NEW}, format="json").status_code == 200
    assert APIClient().get(url("tiers")).status_code == 401
