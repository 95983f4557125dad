"""Hostile input over EVERY program route (issue 11, items 7 and 10): the routes come from the URL
resolver, as in tests/production/test_routes_cross_program.py, so a route added later is covered.
No answer is a 500; each is problem+json with its SPEC code; nothing in the database changes."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from config.platform.models import IdempotencyRecord, Program
from rules.rewards.models import CreditEntry
from tests.production.test_routes_cross_program import PLACEHOLDER, SAMPLE, program_routes

pytestmark = pytest.mark.django_db

WRITES = ("POST", "PUT", "PATCH")


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


HOSTILE_BODIES = {
    "NUL in a string": '{"reason": "a\\u0000b", "id": "e\\u0000"}',
    "NUL in a key": '{"a\\u0000": 1}',
    "unpaired surrogate": '{"reason": "\\ud800"}',
    "nested 69 levels": _deep(69),  # deeper than any route allows (rule definitions: 68)
    "nested 100,000 levels": _deep(100_000),  # was a RecursionError in the decoder
}


def concrete(route: str, slug: str, sample: str | None = None) -> str:
    def fill(m) -> str:
        if m["name"] == "program":
            return slug
        return (
            sample
            if sample and (m["converter"] or "str") == "str"
            else SAMPLE[m["converter"] or "str"]
        )

    return "/" + PLACEHOLDER.sub(fill, route)


def snapshot() -> dict[str, int]:
    """Row counts of every ledger and rules table: "nothing changed"."""
    return {
        model._meta.label: model._default_manager.count()
        for app in ("ledger", "rules")
        for model in apps.get_app_config(app).get_models()
    }


def send(client: APIClient, method: str, path: str, body: str):
    return client.generic(
        method,
        path,
        data=body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=f"hostile-{uuid.uuid4()}",
    )


def problem_of(r, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.content[:300])
    assert r["Content-Type"] == "application/problem+json", r["Content-Type"]
    body = r.json()
    assert body["code"] == code and body["status"] == status, body
    return body


@pytest.fixture
def superuser_api(program, admin_user) -> APIClient:
    """A staff session that holds every permission: the body, not a permission, is refused."""
    client = APIClient()
    client.force_login(admin_user)
    return client


def test_the_routes_include_every_write(program):
    writes = [(r, m) for r, m in program_routes() if m in WRITES]
    assert len(writes) > 25


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_every_write_route_refuses_a_hostile_body_and_changes_nothing(superuser_api, program, name):
    api = superuser_api
    before = snapshot()
    failures = []
    for route, method in program_routes():
        if method not in WRITES:
            continue
        r = send(api, method, concrete(route, program.slug), HOSTILE_BODIES[name])
        ok = (
            r.status_code == 400
            and r["Content-Type"] == "application/problem+json"
            and r.json()["code"] == "validation_error"
        )
        if not ok:
            failures.append(f"{method} {route} → {r.status_code} {r.content[:160]!r}")
    assert not failures, "\n".join(failures)
    assert snapshot() == before


def test_every_write_route_refuses_a_body_over_the_limit_with_413(superuser_api, program):
    api = superuser_api
    limit = settings.API_MAX_BODY_BYTES
    assert limit == settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024
    body = json.dumps({"reason": "x" * limit})
    before = snapshot()
    for route, method in program_routes():
        if method in WRITES:
            r = send(api, method, concrete(route, program.slug), body)
            detail = problem_of(r, 413, "payload_too_large")["detail"]
            assert str(limit) in detail, f"{method} {route}: {detail}"
    assert snapshot() == before


def test_a_body_nested_64_levels_passes_the_parser_and_65_does_not(api, url):
    # 64 levels reach the serializer (which refuses the shape); 65 stop at the parser.
    body = {"postings": _deep(63)}
    r = send(
        api, "POST", url("transactions"), json.dumps(body).replace('"[', "[").replace(']"', "]")
    )
    assert "nests deeper" not in r.json()["detail"]
    r = send(api, "POST", url("transactions"), json.dumps({"postings": json.loads(_deep(64))}))
    assert "deeper than 64 levels" in problem_of(r, 400, "validation_error")["detail"]


def test_every_route_refuses_nul_in_path_ids_and_query_parameters(superuser_api, program):
    api = superuser_api
    before = snapshot()
    failures = []
    for route, method in program_routes():
        if method == "OPTIONS":
            continue
        body = "{}" if method in WRITES else ""
        paths = [concrete(route, program.slug) + "?status=a%00b&beneficiary=%00"]
        if "<str:" in route:
            paths.append(concrete(route, program.slug, sample="x%00y"))
        for path in paths:
            r = send(api, method, path, body)
            ok = r.status_code == 400 and r.json().get("code") == "validation_error"
            if not ok or r["Content-Type"] != "application/problem+json":
                failures.append(f"{method} {path} → {r.status_code} {r.content[:160]!r}")
    assert not failures, "\n".join(failures)
    assert snapshot() == before


def test_every_list_route_answers_an_altered_cursor_with_400(superuser_api, program):
    api = superuser_api
    lists = [
        route
        for route, method in program_routes()
        if method == "GET"
        and "<" not in route.split("program>/")[1]
        and "results" in (superuser_api.get(concrete(route, program.slug)).json() or {})
    ]
    forged = [
        "zzz",  # not base64
        base64.b64encode(b"p=2026-02-30T10:00:00Z").decode(),  # impossible position
        base64.b64encode(b"p=2026-01-01T00:00:00-19:47").decode(),  # offset PG refuses
        base64.b64encode(b"p=x\x00").decode(),
        base64.b64encode(b"o=abc").decode(),
    ]
    paged = 0
    for route in lists:
        for cursor in forged:
            r = api.get(concrete(route, program.slug), {"cursor": cursor})
            assert problem_of(r, 400, "validation_error")["errors"][0]["field"] == "cursor"
        paged += 1
    assert paged >= 5


def test_as_of_with_an_impossible_date_or_a_far_offset_is_400(api, url):
    for as_of in (
        "2026-02-30T10:00:00Z",
        "2026-01-01T00:00:00-19:47",
        "2026-01-01T00:00:00+16:00",
        "9999-12-31T23:59:59-15:00",  # after 9999 once in UTC
        "2026-01-01T00:00:00",  # no timezone
    ):
        r = api.get(url("accounts/program:rewards_expense"), {"as_of": as_of})
        body = problem_of(r, 400, "validation_error")
        assert body["errors"][0]["field"] == "as_of", body
    ok = api.get(url("accounts/program:rewards_expense"), {"as_of": "2026-01-01T00:00:00-15:59"})
    assert ok.status_code == 200, ok.content


def test_audit_log_time_filters_refuse_impossible_dates(api, url):
    for params in ({"since": "2026-02-30T10:00:00Z"}, {"until": "2026-01-01T00:00:00-19:47"}):
        r = api.get(url("audit-log"), params)
        assert r.status_code == 400 and r.json()["code"] == "validation_error", r.content


def test_unknown_api_paths_are_problem_json_404_even_in_debug(api, settings):
    settings.DEBUG = True
    for path in ("/api/v1/nope", "/api/v1/programs/acme/nope", "/api/v1/programs/acme/rules/abc"):
        r = api.get(path)
        problem_of(r, 404, "not_found")
    assert api.get("/api/docs").status_code == 301  # the docs still redirect to their slash


def test_a_number_where_a_string_is_expected_is_400(api, url):
    before = snapshot()
    r = send(
        api,
        "POST",
        url("rewards"),
        json.dumps({"beneficiary": 123, "amount": 500, "currency": "INR", "reward_type": "cash"}),
    )
    body = problem_of(r, 400, "validation_error")
    assert body["errors"] == [{"field": "beneficiary", "message": "Must be a string."}]
    r = send(api, "POST", url("referrals"), json.dumps({"referrer": "alice", "referred": 7}))
    assert problem_of(r, 400, "validation_error")["errors"][0]["field"] == "referred"
    r = send(api, "POST", url("credits"), '{"owner_id": "a", "operation": 1, "nonce": 2}')
    fields = {e["field"] for e in problem_of(r, 400, "validation_error")["errors"]}
    assert fields == {"operation", "nonce"}
    assert snapshot() == before


def test_a_refused_credits_nonce_reused_with_another_body_is_422(api, url):
    def spend(amount: int, owner: str = "alice"):
        return api.post(
            url("credits"),
            {"owner_id": owner, "operation": "CREDIT_SPEND", "amount": amount, "nonce": "n1"},
            format="json",
        )

    problem_of(spend(5), 409, "insufficient_funds")
    problem_of(spend(6), 422, "idempotency_key_reused")
    problem_of(spend(5, owner="bob"), 422, "idempotency_key_reused")
    assert not CreditEntry.objects.exists()
    # The same body may be retried once funds arrive, and then replays like any other.
    api.post(
        url("credits"),
        {"owner_id": "alice", "operation": "CREDIT_ADD", "nonce": "top-up"},
        format="json",
    )
    assert spend(5).status_code == 201
    assert spend(5).status_code == 200
    problem_of(spend(6), 422, "idempotency_key_reused")


def test_create_program_accepts_iso_4217_codes_only(db):
    for bad in ("XYZ", "ABC", "XXX", "INRR", "12"):
        with pytest.raises(CommandError, match="ISO 4217"):
            call_command("create_program", "bad", "--name", "Bad", "--currency", bad)
    assert not Program.objects.filter(slug="bad").exists()
    call_command("create_program", "good", "--name", "Good", "--currency", "eur")
    assert Program.objects.get(slug="good").currency == "EUR"


def test_admin_filters_with_a_far_offset_or_nul_are_400_not_500(admin_client):
    for query in (
        "at__gte=2026-01-01T00:00:00-19:47",
        "at__gte=2026-01-01 00:00:00%2B20:00",
        "q=%00",
        "at__year=10000",
        "at__year=0",
        "at__year=-5",
        "at__year=99999999999999999999",
    ):
        r = admin_client.get(f"/admin/ledger/auditentry/?{query}")
        assert r.status_code == 400, (query, r.status_code)
    for query in ("created_at__year=10000", "paid_at__year__gte=0", "created_at__iso_year=10000"):
        r = admin_client.get(f"/admin/ledger/reward/?{query}")
        assert r.status_code == 400, (query, r.status_code)
    assert admin_client.get("/admin/ledger/reward/?created_at__year=2026").status_code == 200
    r = admin_client.get("/admin/ledger/auditentry/?at__gte=2026-02-30")
    assert r.status_code in (200, 302), r.status_code  # Django's own "?e=1" for a bad filter


def test_nothing_is_stored_under_an_idempotency_key_for_a_refused_body(api, url):
    r = send(api, "POST", url("transactions"), HOSTILE_BODIES["NUL in a string"])
    problem_of(r, 400, "validation_error")
    assert not IdempotencyRecord.objects.exists()
