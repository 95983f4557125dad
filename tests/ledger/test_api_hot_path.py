"""The per-request work of the API's hot path (config/platform/api/auth.py, config/platform/api/idempotency.py,
the rewards 201 body): fewer statements, same guarantees."""

from __future__ import annotations

import threading
from collections import Counter

import django
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from config.platform.api import idempotency
from config.platform.api.auth import api_key_principal
from config.platform.api_keys import api_key_create, api_key_revoke
from config.platform.exceptions import InsufficientFunds
from config.platform.models import ApiKey, IdempotencyRecord, Program, hash_api_key
from ledger.services.accounts import account_create
from rules.rewards.models import Reward
from rules.rewards.services.programs import program_create

# These count statements in Django's query log. Django 5.2 (what pip resolves on Python 3.11)
# logs a server-side prepared statement without its SQL, so the count is Django 6's only.
READS_DJANGO6_QUERY_LOG = pytest.mark.skipif(
    django.VERSION < (6,), reason="counts statements in Django 6's query log"
)


BODY = {"beneficiary": "alice", "amount": 5000, "currency": "INR", "reward_type": "cash"}
SPEND = {
    "postings": [
        {"account": "user:zed:wallet", "direction": "debit", "amount": 1},
        {"account": "program:payouts_clearing", "direction": "credit", "amount": 1},
    ]
}


def _create(api, url, key: str, **overrides):
    body = {**BODY, **overrides}
    return api.post(url("rewards"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _wallet(program: Program) -> None:
    account_create(
        program=program, code="user:zed:wallet", kind="liability", currency="INR", no_overdraft=True
    )


# --- authentication --------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_key_principal_loads_the_key_and_its_program_in_one_statement(program, api_key):
    expected = ApiKey.objects.select_related("program").get(key_hash=hash_api_key(api_key))
    with CaptureQueriesContext(connection) as queries:
        principal = api_key_principal(hash_api_key(api_key))
        assert principal is not None
        key = principal.api_key
        program_loaded = key.program
    assert len(queries) == 1
    fields = [f.attname for f in ApiKey._meta.concrete_fields]
    assert [getattr(key, f) for f in fields] == [getattr(expected, f) for f in fields]
    fields = [f.attname for f in Program._meta.concrete_fields]
    assert [getattr(program_loaded, f) for f in fields] == [getattr(program, f) for f in fields]
    assert key.created_at.tzinfo is not None  # converted like the ORM does, on SQLite too
    assert not key._state.adding and key._state.db == "default"


@pytest.mark.django_db
def test_api_key_principal_refuses_unknown_and_revoked_keys_at_once(program, api_key, api, url):
    assert api_key_principal(hash_api_key("rl_not_a_key")) is None
    assert api.get(url("rewards")).status_code == 200
    api_key_revoke(api_key=program.api_keys.get(), actor="test")
    assert api_key_principal(hash_api_key(api_key)) is None
    assert api.get(url("rewards")).status_code == 401  # no cache: the next request is refused


# --- idempotency -----------------------------------------------------------------------------


@READS_DJANGO6_QUERY_LOG
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reward_creation_costs_claim_booking_and_completion_only(api, url):
    _create(api, url, "warm-up")  # opens the user's account: later rewards skip that
    sent = []

    def record(execute, sql, params, many, context):
        sent.append(sql.split()[0].upper())
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(record):
        assert _create(api, url, "measured").status_code == 201
    # Key lookup, then one transaction: claim (INSERT ... ON CONFLICT), the booking statement
    # (one WITH ... statement), completion (UPDATE). No savepoint, no read of the record
    # first, no re-read of the reward and its history. (Django logs prepared statements as
    # QUERY, so the statements' text comes from an execute wrapper; BEGIN and COMMIT from
    # the query log.)
    assert sent == ["SELECT", "INSERT", "WITH", "UPDATE"], sent
    logged = [q["sql"].split()[0].upper() for q in queries]
    assert len(logged) == 6 and logged[1] == "BEGIN" and logged[-1] == "COMMIT", logged
    assert not [q for q in queries if "FROM ledger_idempotencyrecord" in q["sql"]]
    assert not [q for q in queries if "FROM ledger_rewardhistory" in q["sql"]]


@pytest.mark.django_db
def test_the_201_body_is_what_a_later_get_returns(program, api, url):
    program.fraud_amount_threshold = 1000
    program.save(update_fields=["fraud_amount_threshold"])
    for key, amount in (("plain", 500), ("held", 5000)):
        created = _create(api, url, key, amount=amount, metadata={"b": 1, "a": [1, "x"]})
        assert created.status_code == 201, created.json()
        fetched = api.get(url(f"rewards/{created.json()['id']}"))
        assert created.json() == fetched.json()
        replay = _create(api, url, key, amount=amount, metadata={"b": 1, "a": [1, "x"]})
        assert replay.json() == created.json() and replay["Idempotent-Replayed"] == "true"
    assert fetched.json()["hold_reason"] and fetched.json()["history"][0]["reason"]


@pytest.mark.django_db
def test_a_validation_error_stores_nothing_and_the_key_stays_usable(api, url):
    assert _create(api, url, "fix-me", amount=0).status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert _create(api, url, "fix-me").status_code == 201
    assert Reward.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refusal_loses_to_a_duplicate_that_claimed_the_key_meanwhile(
    program, api, url, monkeypatch
):
    """The refused effect rolls back with its claim; if a duplicate claims the key before the
    refusal is stored, the duplicate's outcome is the key's one answer."""
    _wallet(program)
    real_claim = idempotency._claim

    def claim(program_, key, fingerprint, **stored):
        if stored:  # storing the refusal: a duplicate has just committed its own outcome
            IdempotencyRecord.objects.create(
                program=program_,
                key=key,
                request_hash=fingerprint,
                response_status=201,
                response_body={"winner": True},
            )
        return real_claim(program_, key, fingerprint, **stored)

    monkeypatch.setattr(idempotency, "_claim", claim)
    r = api.post(url("transactions"), SPEND, format="json", HTTP_IDEMPOTENCY_KEY="spend")
    assert r.status_code == 201 and r.json() == {"winner": True}
    assert r["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.filter(key="spend").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_refusals_with_one_key_store_one_outcome(program, api_key, url):
    _wallet(program)
    n = 16
    barrier = threading.Barrier(n)
    responses: list = [None] * n

    def run(i: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
        try:
            barrier.wait()
            responses[i] = client.post(
                url("transactions"), SPEND, format="json", HTTP_IDEMPOTENCY_KEY="one"
            )
        except Exception as exc:  # surfaced by the assertions below
            responses[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(getattr(r, "status_code", r) for r in responses) == {409: n}
    assert all(r.json() == responses[0].json() for r in responses)
    assert responses[0].json()["code"] == InsufficientFunds.code
    assert IdempotencyRecord.objects.filter(program=program, key="one").count() == 1


@pytest.mark.django_db
def test_another_program_may_use_the_same_key(program, api, url):
    other_program, _ = program_create(slug="other", name="Other", currency="INR")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=other_program)[1]}")
    first = _create(api, url, "shared")
    second = other.post(
        url("rewards", slug="other"), BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert first.json()["id"] != second.json()["id"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_prepared_statement_replaces_a_connection_that_died_between_requests(api_key):
    """The key lookup is the first statement of a request and runs on a prepared cursor: it
    must run Django's per-request health check first, as connection.cursor() does, or every
    worker's first request after a database restart would fail."""
    import psycopg

    assert api_key_principal(hash_api_key(api_key)) is not None
    dead = connection.connection.info.backend_pid
    admin = {**connection.get_connection_params(), "autocommit": True}
    with psycopg.connect(**admin) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dead])
    connection.close_if_unusable_or_obsolete()  # what request_started does in a server
    assert api_key_principal(hash_api_key(api_key)) is not None
    assert connection.connection.info.backend_pid != dead
