"""Permissions on the API (issue 11, item 1): every route requires the Django model permission
the admin requires for the same change (GETs the view_ one), for staff sessions and API keys
alike (a key has its owner's permissions). The routes come from the URL resolver, as in
tests/production/test_routes_cross_program.py, so a route added later is covered without
touching this file, and one that declares no permission fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import get_resolver
from rest_framework.test import APIClient

from config.platform.api.views import required_permission
from config.platform.api_keys import api_key_create, service_identity_get_or_create
from config.platform.models import AuditEntry
from rules.rewards.models import PayoutBatch, Reward
from rules.rewards.services import payouts
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.production.test_routes_cross_program import PREFIX, _walk, call, concrete, program_routes

pytestmark = pytest.mark.django_db

GROUPS = ["operators", "approvers", "rule authors", "key managers", "api clients"]
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"


def _view_classes() -> dict[str, type]:
    return {
        route: getattr(cb, "view_class", None) or cb.cls
        for route, cb in _walk(get_resolver().url_patterns)
        if route.startswith(PREFIX)
    }


def _alternatives(required) -> tuple[str, ...]:
    return (required,) if isinstance(required, str) else tuple(required)


def _session(username: str, *groups: str, superuser: bool = False) -> APIClient:
    user = get_user_model().objects.create_user(
        username=username, password="pw", is_staff=True, is_superuser=superuser
    )
    user.groups.add(*Group.objects.filter(name__in=groups))
    client = APIClient()
    client.force_login(user)
    return client


def _key_client(program, username: str, *groups: str) -> APIClient:
    owner, _ = service_identity_get_or_create(username=username, groups=groups or ("approvers",))
    owner.groups.set(Group.objects.filter(name__in=groups))
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=owner)[1]}"
    )
    return client


def _group_perms(*groups: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Permission.objects.filter(group__name__in=groups).values_list(
            "content_type__app_label", "codename"
        )
    }


def test_every_route_and_method_declares_an_existing_permission():
    views = _view_classes()
    existing = {
        f"{app}.{codename}"
        for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    missing, unknown = [], []
    for route, method in program_routes():
        if method == "OPTIONS":
            continue
        required = required_permission(views[route], method)
        if required is None:
            missing.append(f"{method} {route}")
            continue
        unknown += [p for p in _alternatives(required) if p not in existing]
    assert not missing, "routes without a declared permission:\n" + "\n".join(missing)
    assert not unknown, f"declared permissions that do not exist: {unknown}"


def test_a_route_without_a_declaration_is_refused_even_to_superusers(program, url, monkeypatch):
    from rules.rewards.apis.rewards import RewardListApi

    monkeypatch.setattr(RewardListApi, "required_permissions", {"POST": "ledger.add_reward"})
    r = _session("root", superuser=True).get(url("rewards"))
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


def _check_everywhere(client: APIClient, slug: str, granted: set[str], superuser=False) -> list:
    """Each route and method: 403 permission_denied exactly when the caller lacks what it
    declares; never a 5xx."""
    views = _view_classes()
    wrong = []
    for route, method in program_routes():
        r = call(client, method, concrete(route, slug))
        body = r.json() if r.get("Content-Type", "").endswith("json") and r.content else {}
        denied = r.status_code == 403 and body.get("code") == "permission_denied"
        if method == "OPTIONS":
            allowed = True
        else:
            required = _alternatives(required_permission(views[route], method))
            allowed = superuser or any(p in granted for p in required)
        if denied == allowed or r.status_code >= 500:
            wrong.append(f"{method} {route}: {r.status_code} {r.content[:120]!r}")
        if denied:
            assert r["Content-Type"] == "application/problem+json"
    return wrong


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_every_group_gets_exactly_its_permissions_on_every_route(program, group):
    groups = (group,) if group else ()
    client = _session("someone", *groups)
    audit_before = AuditEntry.objects.count()
    wrong = _check_everywhere(client, program.slug, _group_perms(*groups))
    assert not wrong, "\n".join(wrong)
    if group is None:  # refused everywhere: nothing happened
        assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize("group", GROUPS)
def test_an_api_key_has_its_owners_permissions_on_every_route(program, group):
    client = _key_client(program, f"svc-{group.replace(' ', '-')}", group)
    wrong = _check_everywhere(client, program.slug, _group_perms(group))
    assert not wrong, "\n".join(wrong)


def test_a_superuser_may_use_every_route(program):
    wrong = _check_everywhere(_session("root", superuser=True), program.slug, set(), True)
    assert not wrong, "\n".join(wrong)


def test_the_published_table_matches_the_routes():
    """docs/OPERATIONS.md lists every route and method with the permission it needs."""
    text = OPERATIONS.read_text()
    views = _view_classes()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(GET|POST|PUT|PATCH|DELETE) P/([^`]*)`\s*\|\s*(.*?)\s*\|", line)
        if m:
            rows[(m[1], m[2])] = set(re.findall(r"`(\w+\.\w+)`", m[3]))
    expected = {}
    for route, method in program_routes():
        if method == "OPTIONS":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.removeprefix(PREFIX))
        expected[(method, path)] = set(_alternatives(required_permission(views[route], method)))
    assert rows == expected


# --- the reproductions of issue 11, item 1 ---------------------------------------------------


def test_a_rule_author_cannot_move_money(program, url, confirmed_reward):
    author = _session("rita", "rule authors")
    r = author.post(
        url("rewards"),
        {"beneficiary": "rita", "amount": 5_000_000, "currency": "INR", "reward_type": "cash"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    reward = confirmed_reward("carol", 1000)
    assert author.get(url(f"rewards/{reward.pk}")).status_code == 200
    assert author.post(url(f"rewards/{reward.pk}/confirm"), {}, format="json").status_code == 403
    postings = [
        {"account": "program:rewards_expense", "direction": "debit", "amount": 10},
        {"account": "user:rita:rewards", "direction": "credit", "amount": 10},
    ]
    r = author.post(
        url("transactions"), {"postings": postings}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    assert r.status_code == 403
    r = author.post(
        url("webhook-endpoints"),
        {"url": "https://example.com/h", "events": ["reward.created"]},
        format="json",
    )
    assert r.status_code == 403
    batch = payouts.payout_batch_create(program=program, actor="user:alice")
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor="user:alice")
    payouts.payout_batch_submit(batch=batch, actor="user:alice")
    for step in ("approve", "execute"):
        r = author.post(url(f"payout-batches/{batch.pk}/{step}"), {}, format="json")
        assert (r.status_code, r.json()["code"]) == (403, "permission_denied"), step
    batch.refresh_from_db()
    assert batch.status == "pending_approval"
    assert not Reward.objects.filter(beneficiary="rita").exists()
    # What rule authors are for still works.
    assert author.get(url("rules/catalog")).status_code == 200


def test_an_operator_cannot_approve_a_batch(program, url, confirmed_reward):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor="user:alice")
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor="user:alice")
    payouts.payout_batch_submit(batch=batch, actor="user:alice")
    operator = _session("oscar", "operators")
    r = operator.post(url(f"payout-batches/{batch.pk}/approve"), {}, format="json")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    assert "ledger.approve_payoutbatch" in r.json()["detail"]
    assert PayoutBatch.objects.get(pk=batch.pk).status == "pending_approval"
    # An approver may; an operator may still reject (as in the admin).
    assert (
        _session("bob", "approvers")
        .post(url(f"payout-batches/{batch.pk}/approve"), {}, format="json")
        .json()["status"]
        == "approved"
    )
    r = operator.post(url(f"payout-batches/{batch.pk}/reject"), {"reason": "no"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "rejected"


def test_a_key_of_a_service_identity_without_approve_permission_cannot_approve(
    program, api, url, confirmed_reward
):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor="user:alice")
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor="user:alice")
    payouts.payout_batch_submit(batch=batch, actor="user:alice")
    r = api.post(url(f"payout-batches/{batch.pk}/approve"), {}, format="json")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")


def test_permissions_change_takes_effect_on_the_next_request(program, url):
    owner, _ = service_identity_get_or_create(username="svc-x", groups=("approvers",))
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=owner)[1]}"
    )
    assert client.get(url("rewards")).status_code == 200
    owner.groups.clear()
    assert client.get(url("rewards")).status_code == 403
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    r = client.get(url("rewards"))
    assert (r.status_code, r.json()["code"]) == (401, "authentication_failed")
