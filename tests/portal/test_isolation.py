"""A partner sees only their own objects, over EVERY portal route: the routes come from the URL
resolver at test time, so a page added later is covered without touching this file.

- each route with an object id, filled with another partner's object of that kind (reward,
  payout item, link; the statement too): 404, and the other's data never appears;
- each route of another program's portal, with a valid session of this one: refused (403), or
  for the public sign-in and join pages, served without the session's data;
- the same routes with this partner's own objects answer 200 (so the 404s mean something)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from rules.links.services.links import referral_link_create
from rules.rewards.services.programs import program_create
from tests.portal.conftest import signed_in

pytestmark = pytest.mark.django_db

PREFIX = "portal/<slug:program>/"
PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
# Public pages: anyone may open them (they show no partner's data).
PUBLIC = {"signin", "signin/link", "signout", "join"}


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def portal_routes() -> list[str]:
    routes = [r for r in _walk(get_resolver().url_patterns) if r.startswith(PREFIX)]
    assert len(routes) >= 14, routes
    return routes


def concrete(route: str, slug: str, ids: dict[str, int]) -> str:
    def fill(m: re.Match) -> str:
        if m["name"] == "program":
            return slug
        return str(ids[m["name"]])  # a KeyError names a new kind of id: add it to the fixture

    return "/" + PLACEHOLDER.sub(fill, route)


@pytest.fixture
def objects(alice, bob, earn, pay):
    """{partner: {id name: id}} for alice's and bob's own reward, payout item and link."""
    out = {}
    for who in (alice, bob):
        reward = earn(who, 1000)
        item = pay(who)
        link = referral_link_create(participant=who, slug=f"{who.external_id}-link", actor="t")
        out[who.external_id] = {"reward_id": reward.pk, "item_id": item.pk, "link_id": link.pk}
    return out


def test_the_walk_finds_the_object_routes():
    routes = portal_routes()
    for expected in ("rewards/<int:reward_id>", "payouts/<int:item_id>/statement.csv"):
        assert PREFIX + expected in routes


def test_own_objects_are_served(alice, objects):
    client = signed_in(alice)
    for route in portal_routes():
        if route[len(PREFIX) :] in PUBLIC:
            continue
        path = concrete(route, "acme", objects["alice"])
        assert client.get(path).status_code == 200, path


def test_another_partners_objects_are_404(alice, bob, objects):
    client = signed_in(alice)
    checked = 0
    for route in portal_routes():
        if "<int:" not in route:
            continue
        path = concrete(route, "acme", objects["bob"])
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"bob" not in response.content, path
        checked += 1
    assert checked >= 4


def test_another_programs_portal_is_refused(alice, objects):
    program_create(slug="globex", name="Globex", currency="USD")
    client = signed_in(alice)
    for route in portal_routes():
        path = concrete(route, "globex", objects["alice"])
        # Signing out (a POST) ends the session: done by a client of its own.
        response = signed_in(alice).post(path) if route.endswith("signout") else client.get(path)
        if route[len(PREFIX) :] in PUBLIC:
            assert response.status_code in (200, 302), path
            assert alice.referral_code.encode() not in response.content, path
            continue
        assert response.status_code == 403, path
        assert b"signed in to another program" in response.content, path
        assert alice.referral_code.encode() not in response.content, path


def test_unknown_program_is_404(alice):
    client = signed_in(alice)
    for route in portal_routes():
        path = concrete(route, "nope", {"reward_id": 1, "item_id": 1, "link_id": 1})
        response = client.post(path) if route.endswith("signout") else client.get(path)
        assert response.status_code == 404, path
