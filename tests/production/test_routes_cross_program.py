"""Tenant isolation over EVERY program route: the routes come from the URL resolver at test time, so
an endpoint added later is covered without touching this file. A key of another program gets 404
problem+json on each route and method (never revealing that the program exists) and changes
nothing; a revoked key gets 401; the throttle answers 429 with Retry-After."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from config.platform.api.auth import ApiKeyRateThrottle
from config.platform.api_keys import api_key_create, api_key_revoke
from config.platform.models import AuditEntry
from rules.rewards.services.programs import program_create

pytestmark = pytest.mark.django_db

PREFIX = "api/v1/programs/<slug:program>/"
PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
SAMPLE = {"int": "1", "uuid": str(uuid.UUID(int=1)), "slug": "x1", "str": "x1", "path": "x1"}


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback


def _methods(callback) -> list[str]:
    if getattr(callback, "actions", None):  # a DRF ViewSet route
        return sorted({m.upper() for m in callback.actions} | {"OPTIONS"})
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    assert view_class is not None, f"{callback} is not a class-based view"
    return sorted(
        m.upper() for m in view_class.http_method_names if m != "head" and hasattr(view_class, m)
    )


def program_routes() -> list[tuple[str, str]]:
    """(route, method) for every route under /api/v1/programs/<program>/."""
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith(PREFIX):
            continue
        assert "^" not in route, f"regex route {route!r}: extend program_routes() to fill it"
        routes += [(route, method) for method in _methods(callback)]
    return routes


def concrete(route: str, slug: str) -> str:
    def fill(m: re.Match) -> str:
        if m["name"] == "program":
            return slug
        return SAMPLE[m["converter"] or "str"]

    return "/" + PLACEHOLDER.sub(fill, route)


def call(client: APIClient, method: str, path: str):
    return client.generic(
        method,
        path,
        data="{}" if method not in ("GET", "DELETE", "OPTIONS") else "",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=f"iso-{uuid.uuid4()}",
    )


@pytest.fixture
def other_client(program) -> APIClient:
    other, _ = program_create(slug="globex", name="Globex", currency="USD")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=other)[1]}")
    return client


def test_the_enumeration_sees_the_known_routes():
    routes = {r for r, _ in program_routes()}
    for known in ("transactions", "rewards", "webhook-endpoints/<str:pk>/deliveries", "events"):
        assert PREFIX + known in routes
    assert (PREFIX + "webhook-endpoints/<str:pk>", "DELETE") in program_routes()


def test_another_programs_key_gets_404_on_every_route_and_method(program, other_client):
    audit_before = AuditEntry.objects.count()
    failures = []
    routes = program_routes()
    for route, method in routes:
        r = call(other_client, method, concrete(route, program.slug))
        problem = r.get("Content-Type") == "application/problem+json"
        if r.status_code != 404 or not problem or r.json().get("code") != "not_found":
            failures.append(f"{method} {route} → {r.status_code} {r.content[:200]!r}")
    assert not failures, "\n".join(failures)
    assert AuditEntry.objects.count() == audit_before, "a refused request changed something"
    assert len(routes) > 30


def test_an_unknown_program_looks_the_same_as_another_programs(other_client):
    for route, method in program_routes():
        r = call(other_client, method, concrete(route, "no-such-program"))
        assert r.status_code == 404, f"{method} {route}: {r.status_code}"


def test_revoked_key_gets_401_on_every_route(program, api_key):
    key = program.api_keys.get()
    api_key_revoke(api_key=key, actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    for route, method in program_routes():
        r = call(client, method, concrete(route, program.slug))
        assert r.status_code == 401, f"{method} {route}: {r.status_code}"
        assert r.json()["code"] == "authentication_failed"
        assert r["Content-Type"] == "application/problem+json"


def test_no_key_and_a_bad_key_get_401(program, url):
    assert APIClient().get(url("transactions/x")).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer rl_not_a_key")
    r = client.get(url("webhook-endpoints"))
    assert r.status_code == 401 and r.json()["code"] == "authentication_failed"


def test_throttle_answers_429_with_retry_after(api, url, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(ApiKeyRateThrottle, "rate", "3/min", raising=False)
    statuses = [api.get(url("webhook-endpoints")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    r = api.get(url("webhook-endpoints"))
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited" and r["Content-Type"] == "application/problem+json"
    assert 1 <= int(r["Retry-After"]) <= 60
    cache.clear()
