"""Every error is application/problem+json with a SPEC code (SPEC §1), and bad input changes
nothing."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from config.platform.api.auth import ApiKeyRateThrottle
from config.platform.api_keys import api_key_create, api_key_revoke
from config.platform.models import IdempotencyRecord
from ledger.models import Posting, Transaction
from rules.rewards.services.programs import program_create

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith(code) and body["title"] and body["detail"]
    return body


def _transfer(amount=100, **posting_extra) -> dict:
    return {
        "postings": [
            {"account": "program:rewards_expense", "direction": "debit", "amount": amount},
            {
                "account": "program:payouts_clearing",
                "direction": "credit",
                "amount": amount,
                **posting_extra,
            },
        ]
    }


def _post(api, url, body, key="k1"):
    return api.post(url("transactions"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)


# --- authentication and scoping -------------------------------------------------------------


def test_missing_key_is_401(program, url):
    body = assert_problem(
        APIClient().get(url("accounts/program:rewards_expense")), 401, "authentication_failed"
    )
    assert "errors" not in body


@pytest.mark.parametrize("header", ["Bearer rl_not_a_key", "Token abc", "Bearer "])
def test_unknown_or_malformed_key_is_401(program, url, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(url("accounts/program:rewards_expense"))
    assert_problem(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Bearer"


def test_revoked_key_is_401(program, url):
    key, raw = api_key_create(program=program, name="to revoke")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(url("accounts/program:rewards_expense")).status_code == 200
    api_key_revoke(api_key=key, actor="test")
    assert_problem(
        client.get(url("accounts/program:rewards_expense")), 401, "authentication_failed"
    )


def test_another_programs_key_gets_404_not_403(program, url):
    other, _ = program_create(slug="other", name="Other", currency="INR")
    _, raw = api_key_create(program=other)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    # acme exists, but the key's owner must not learn that: same answer as a missing program.
    assert_problem(client.get(url("accounts/program:rewards_expense")), 404, "not_found")
    assert_problem(
        client.get(url("accounts/program:rewards_expense", slug="nope")), 404, "not_found"
    )
    response = client.post(
        url("transactions"), _transfer(), format="json", HTTP_IDEMPOTENCY_KEY="x"
    )
    assert_problem(response, 404, "not_found")
    assert Transaction.objects.count() == 0
    assert client.get(url("accounts/program:rewards_expense", slug="other")).status_code == 200


def test_unknown_url_under_api_is_problem_404(api):
    assert_problem(api.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_problem(api.get("/api/v1/programs/acme/no-such-thing"), 404, "not_found")


def test_unknown_resources_are_404(api, url):
    assert_problem(api.get(url("accounts/user:nobody:wallet")), 404, "not_found")
    assert_problem(api.get(url("transactions/not-a-uuid")), 404, "not_found")
    assert_problem(
        api.get(url("transactions/00000000-0000-0000-0000-000000000000")), 404, "not_found"
    )


# --- money and validation -------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1.5, 100.0, "100", 0, -5, True, None, 10**16])
def test_amounts_must_be_positive_integers(api, url, amount):
    body = assert_problem(_post(api, url, _transfer(amount)), 400, "validation_error")
    assert any(e["field"] == "postings.0.amount" and e["message"] for e in body["errors"])
    assert Posting.objects.count() == 0


def test_validation_errors_list_fields_and_store_nothing(api, url):
    body = assert_problem(
        _post(api, url, {"postings": [{"account": 5, "direction": "sideways"}]}),
        400,
        "validation_error",
    )
    fields = {e["field"] for e in body["errors"]}
    assert {"postings.0.direction", "postings.0.amount"} <= fields
    # A 400 stores nothing under the key, so the corrected request may reuse it.
    assert not IdempotencyRecord.objects.exists()
    assert _post(api, url, _transfer()).status_code == 201


def test_unknown_fields_are_400(api, url):
    body = assert_problem(_post(api, url, {**_transfer(), "ammount": 5}), 400, "validation_error")
    assert body["errors"] == [{"field": "ammount", "message": "Unknown field."}]
    body = assert_problem(_post(api, url, _transfer(memo="x"), key="k2"), 400, "validation_error")
    assert body["errors"][0]["field"] == "postings.1.memo"


def test_malformed_json_is_400(api, url):
    response = api.post(
        url("transactions"),
        data="{not json",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert_problem(response, 400, "validation_error")


def test_unknown_account_is_400(api, url):
    body = _transfer()
    body["postings"][1]["account"] = "user:ghost:wallet"
    problem = assert_problem(_post(api, url, body), 400, "validation_error")
    assert "user:ghost:wallet" in problem["detail"]
    assert Transaction.objects.count() == 0


def test_unbalanced_and_single_posting_are_400(api, url):
    body = _transfer()
    body["postings"][1]["amount"] = 99
    assert_problem(_post(api, url, body), 400, "unbalanced_transaction")
    body["postings"] = body["postings"][:1]
    assert_problem(_post(api, url, body, key="k2"), 400, "validation_error")
    assert Transaction.objects.count() == 0


def test_account_currency_mismatch_and_duplicate(api, url):
    account = {"code": "user:ann:wallet", "kind": "liability", "currency": "USD"}
    assert_problem(api.post(url("accounts"), account, format="json"), 400, "currency_mismatch")
    account["currency"] = "INR"
    assert api.post(url("accounts"), account, format="json").status_code == 201
    assert_problem(api.post(url("accounts"), account, format="json"), 409, "already_exists")
    bad = {**account, "code": "Not A Code"}
    assert_problem(api.post(url("accounts"), bad, format="json"), 400, "validation_error")


def test_bad_as_of_is_400(api, url):
    for value in ["yesterday", "2026-01-01T00:00:00"]:  # no timezone: ambiguous
        response = api.get(url("accounts/program:rewards_expense"), {"as_of": value})
        assert_problem(response, 400, "validation_error")


# --- idempotency ----------------------------------------------------------------------------


def test_idempotency_key_required(api, url):
    body = assert_problem(
        api.post(url("transactions"), _transfer(), format="json"), 400, "idempotency_key_required"
    )
    assert "Idempotency-Key" in body["detail"]
    response = api.post(
        url("transactions/00000000-0000-0000-0000-000000000000/reverse"),
        {"reason": "x"},
        format="json",
    )
    assert_problem(response, 400, "idempotency_key_required")
    assert Transaction.objects.count() == 0


def test_idempotency_key_must_be_printable_ascii(api, url):
    response = api.post(
        url("transactions"), _transfer(), format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
    )
    assert_problem(response, 400, "validation_error")
    for bad in ("tab\tkey", "caf\u00e9"):
        response = api.post(
            url("transactions"), _transfer(), format="json", HTTP_IDEMPOTENCY_KEY=bad
        )
        assert_problem(response, 400, "validation_error")
    assert Transaction.objects.count() == 0
    # SPEC §1: printable ASCII is 0x20-0x7E, the space included.
    for key in ("order 42", " ~"):
        response = api.post(
            url("transactions"), _transfer(), format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        assert response.status_code == 201, response.json()
    assert Transaction.objects.count() == 2


def test_idempotency_key_reused_with_another_body_is_422(api, url):
    first = _post(api, url, _transfer(100), key="same")
    assert first.status_code == 201
    assert_problem(_post(api, url, _transfer(101), key="same"), 422, "idempotency_key_reused")
    assert Transaction.objects.count() == 1
    replay = _post(api, url, _transfer(100), key="same")
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"


def test_business_refusal_is_stored_and_replayed(api, url):
    api.post(
        url("accounts"),
        {"code": "user:zed:wallet", "kind": "liability", "currency": "INR", "no_overdraft": True},
        format="json",
    )
    spend = {
        "postings": [
            {"account": "user:zed:wallet", "direction": "debit", "amount": 1},
            {"account": "program:payouts_clearing", "direction": "credit", "amount": 1},
        ]
    }
    first = assert_problem(_post(api, url, spend, key="spend"), 409, "insufficient_funds")
    replay = _post(api, url, spend, key="spend")
    assert assert_problem(replay, 409, "insufficient_funds") == first
    assert replay["Idempotent-Replayed"] == "true"


# --- throttling -----------------------------------------------------------------------------


def test_throttled_key_gets_429_with_retry_after(program, api, url, monkeypatch):
    # DRF reads the rates once, at class creation: patch the class, not the settings.
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    cache.clear()
    for _ in range(3):
        assert api.get(url("accounts/program:rewards_expense")).status_code == 200
    response = api.get(url("accounts/program:rewards_expense"))
    body = assert_problem(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "errors" not in body
    # The limit is per key: another key of the same program is not throttled.
    _, raw = api_key_create(program=program)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert other.get(url("accounts/program:rewards_expense")).status_code == 200
    cache.clear()
