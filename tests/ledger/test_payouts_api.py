"""Payout batch endpoints (SPEC §7): statuses, problem codes, CSV export."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from config.platform.api_keys import api_key_create, service_identity_get_or_create
from rules.rewards.services.programs import program_create
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_api(approver_api) -> APIClient:
    """Another person's key (the approver-acme service identity, in "approvers")."""
    return approver_api


@pytest.fixture
def maker_approver_api(program) -> APIClient:
    """A key whose owner may both make and approve batches (api clients and approvers)."""
    owner, _ = service_identity_get_or_create(
        username="both-acme", groups=("api clients", "approvers")
    )
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=owner)[1]}"
    )
    return client


def _post(client, path, body=None):
    return client.post(path, body or {}, format="json")


def test_batch_walkthrough(maker_approver_api, second_api, url, confirmed_reward):
    api = maker_approver_api
    confirmed_reward("carol", 1500)
    r = _post(api, url("payout-batches"), {"description": "weekly"})
    assert r.status_code == 201, r.json()
    batch = r.json()
    # A key acts as its owner.
    assert batch["status"] == "draft" and batch["created_by"] == "user:both-acme"
    base = url(f"payout-batches/{batch['id']}")

    r = _post(api, f"{base}/items", {"beneficiary": "carol"})
    assert r.status_code == 201, r.json()
    assert r.json()["items"][0]["amount"] == 1500 and r.json()["total"] == 1500
    assert _post(api, f"{base}/submit").json()["status"] == "pending_approval"

    r = _post(api, f"{base}/approve")
    assert r.status_code == 403 and r.json()["code"] == "four_eyes_violation"
    assert r["Content-Type"] == "application/problem+json"

    r = _post(second_api, f"{base}/approve")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = _post(api, f"{base}/execute")
    assert r.status_code == 200 and r.json()["status"] == "executed"
    item = r.json()["items"][0]
    assert item["transaction"] and len(item["rewards"]) == 1
    assert _post(api, f"{base}/execute").json() == r.json()  # executing twice: no change

    r = api.get(url("users/carol/balance"))
    assert r.json()["available"] == 0
    assert api.get(base).json()["status"] == "executed"

    csv = api.get(f"{base}/export.csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines()[1] == f"carol,1500,15.00,INR,{item['reference']}"


def test_problem_codes(api, second_api, url, confirmed_reward, program):
    program.min_payout = 100
    program.save(update_fields=["min_payout"])
    confirmed_reward("carol", 1000)
    batch = _post(api, url("payout-batches")).json()
    base = url(f"payout-batches/{batch['id']}")

    r = _post(api, f"{base}/items", {"beneficiary": "carol", "amount": 5000})
    assert (r.status_code, r.json()["code"]) == (409, "insufficient_funds")
    r = _post(api, f"{base}/items", {"beneficiary": "carol", "amount": 99})
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")
    r = _post(api, f"{base}/items", {"beneficiary": "carol", "amount": 10.5})
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")
    r = _post(api, f"{base}/items", {"beneficiary": "carol", "ammount": 100})
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")
    r = _post(api, f"{base}/approve")  # the api clients group may not approve at all
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    r = _post(second_api, f"{base}/approve")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_transition")
    r = _post(api, f"{base}/execute")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_transition")
    assert api.get(f"{base}/export.csv").status_code == 409
    r = _post(api, f"{base}/reject", {})
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")
    r = _post(api, f"{base}/reject", {"reason": "not this week"})
    assert r.status_code == 200 and r.json()["rejection_reason"] == "not this week"
    r = _post(api, f"{base}/submit")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_transition")
    assert api.get(url("payout-batches/99999")).status_code == 404
    assert api.get(url("payout-batches/abc")).status_code == 404


def test_other_programs_batches_are_not_found(api, url):
    other, _ = program_create(slug="other", name="Other", currency="INR")
    from rules.rewards.services.payouts import payout_batch_create

    batch = payout_batch_create(program=other, actor="user:x")
    assert api.get(url(f"payout-batches/{batch.pk}")).status_code == 404
    assert api.get(url(f"payout-batches/{batch.pk}", slug="other")).status_code == 404


def test_list_is_paginated_newest_first(api, url):
    ids = [_post(api, url("payout-batches")).json()["id"] for _ in range(3)]
    r = api.get(url("payout-batches") + "?limit=2")
    assert [b["id"] for b in r.json()["results"]] == ids[::-1][:2] and r.json()["next"]
