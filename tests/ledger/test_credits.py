"""Credits (SPEC §5): the API and credit_apply, with committed transactions."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from config.platform.exceptions import IdempotencyKeyReused, InsufficientFunds, UnknownOperation
from config.platform.models import AuditEntry
from ledger.models import Account, Transaction
from ledger.selectors import account_balance
from rules.rewards.models import CreditEntry
from rules.rewards.services.credits import credit_apply, credits_balance
from rules.rewards.services.programs import program_create

pytestmark = pytest.mark.django_db(transaction=True)


def apply(api, url, nonce, operation, owner="alice", **extra):
    body = {"owner_id": owner, "operation": operation, "nonce": nonce, **extra}
    return api.post(url("credits"), body, format="json")


def test_operations_move_credits_with_the_operations_sign(api, url, program):
    r = apply(api, url, "n1", "SIGNUP_CREDIT")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {"id", "owner_id", "operation", "amount", "balance"}
    assert (body["owner_id"], body["operation"], body["amount"], body["balance"]) == (
        "alice",
        "SIGNUP_CREDIT",
        3,
        3,
    )
    assert apply(api, url, "n2", "CREDIT_ADD", amount=20).json()["amount"] == 20
    spend = apply(api, url, "n3", "CREDIT_SPEND", amount=5).json()
    assert (spend["amount"], spend["balance"]) == (-5, 18)
    assert apply(api, url, "n4", "CREDIT_SPEND").json()["balance"] == 17

    assert api.get(url("credits/alice")).json() == {"owner_id": "alice", "balance": 17}
    assert api.get(url("credits/nobody")).json() == {"owner_id": "nobody", "balance": 0}
    account = Account.objects.get(program=program, code="user:alice:credits")
    assert account.no_overdraft and account.kind == "liability"
    issued = Account.objects.get(program=program, code="program:credits_issued")
    assert account_balance(issued)["posted"]["balance"] == -17  # equity given away


def test_same_nonce_replays_and_a_different_body_is_422(api, url, program):
    first = apply(api, url, "n1", "CREDIT_ADD", amount=7)
    replay = apply(api, url, "n1", "CREDIT_ADD", amount=7)
    assert first.status_code == 201 and replay.status_code == 200
    assert replay.json() == first.json()
    changes: list[dict[str, object]] = [
        {"operation": "CREDIT_ADD", "amount": 8},
        {"operation": "CREDIT_ADD"},
        {"operation": "DAILY_REWARD", "amount": 7},
        {"operation": "CREDIT_ADD", "amount": 7, "owner": "bob"},
    ]
    for changed in changes:
        r = apply(api, url, "n1", **changed)
        assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused", changed
    assert CreditEntry.objects.count() == 1
    assert credits_balance(program=program, owner_id="alice") == 7


def test_overdraw_is_409_and_writes_nothing(api, url, program):
    apply(api, url, "n1", "SIGNUP_CREDIT")
    audits = AuditEntry.objects.count()
    r = apply(api, url, "n2", "CREDIT_SPEND", amount=4)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    assert r["Content-Type"] == "application/problem+json"
    assert CreditEntry.objects.count() == 1 and Transaction.objects.count() == 1
    assert AuditEntry.objects.count() == audits
    # An owner with no wallet yet cannot spend either, and no account is left behind.
    r = apply(api, url, "n3", "CREDIT_SPEND", owner="carol")
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    assert not Account.objects.filter(code="user:carol:credits").exists()
    # The nonce of a refused spend is free for the retry once funds arrive.
    apply(api, url, "n4", "CREDIT_ADD")
    assert apply(api, url, "n2", "CREDIT_SPEND", amount=4).status_code == 201


def test_unknown_operation_is_400(api, url):
    r = apply(api, url, "n1", "CONTENT_CREATION")  # exists in "content", not in "core"
    assert r.status_code == 400 and r.json()["code"] == "unknown_operation"
    r = apply(api, url, "n2", "credit_add")
    assert r.status_code == 400 and r.json()["code"] == "unknown_operation"
    assert not CreditEntry.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"owner_id": "alice", "operation": "CREDIT_ADD", "nonce": "n", "amount": 1.5},
        {"owner_id": "alice", "operation": "CREDIT_ADD", "nonce": "n", "amount": "5"},
        {"owner_id": "alice", "operation": "CREDIT_ADD", "nonce": "n", "amount": 0},
        {"owner_id": "alice", "operation": "CREDIT_ADD", "nonce": "n", "amount": -3},
        {"owner_id": "alice", "operation": "CREDIT_ADD"},
        {"owner_id": "a:b", "operation": "CREDIT_ADD", "nonce": "n"},
        {"owner_id": "alice", "operation": "CREDIT_ADD", "nonce": "n", "extra": 1},
    ],
)
def test_malformed_requests_are_400(api, url, body):
    r = api.post(url("credits"), body, format="json")
    assert r.status_code == 400 and r.json()["code"] == "validation_error", r.json()
    assert not CreditEntry.objects.exists()


def test_zero_operation_is_recorded_and_moves_nothing(api, url):
    program, _ = program_create(
        slug="content", name="Content", currency="INR", operation_set="content"
    )
    from config.platform.api_keys import api_key_create

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program)[1]}")
    curl = lambda path: url(path, slug="content")  # noqa: E731
    apply(api, curl, "n1", "CREDIT_ADD")
    r = apply(api, curl, "n2", "CONTENT_ACCESS")
    assert r.status_code == 201
    assert (r.json()["amount"], r.json()["balance"]) == (0, 10)
    entry = CreditEntry.objects.get(nonce="n2")
    assert entry.transaction is None
    assert Transaction.objects.count() == 1
    r = apply(api, curl, "n3", "CONTENT_CREATION")
    assert (r.json()["amount"], r.json()["balance"]) == (-5, 5)


def test_service_returns_created_flag_and_raises_domain_errors(program):
    entry, created = credit_apply(
        program=program, owner_id="bob", operation="DAILY_REWARD", amount=None, nonce="x", actor="t"
    )
    assert created and entry.amount == 1 and entry.balance == 1
    again, created = credit_apply(
        program=program, owner_id="bob", operation="DAILY_REWARD", amount=None, nonce="x", actor="t"
    )
    assert not created and again.pk == entry.pk
    with pytest.raises(IdempotencyKeyReused):
        credit_apply(
            program=program,
            owner_id="bob",
            operation="DAILY_REWARD",
            amount=1,
            nonce="x",
            actor="t",
        )
    with pytest.raises(InsufficientFunds):
        credit_apply(
            program=program,
            owner_id="bob",
            operation="CREDIT_SPEND",
            amount=2,
            nonce="y",
            actor="t",
        )
    with pytest.raises(UnknownOperation):
        credit_apply(
            program=program, owner_id="bob", operation="NOPE", amount=None, nonce="z", actor="t"
        )
    assert AuditEntry.objects.filter(action="credit.applied").count() == 1


def _threads(n, fn):
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.postgres
def test_racing_spends_never_overdraw(program):
    credit_apply(
        program=program, owner_id="eve", operation="CREDIT_ADD", amount=10, nonce="fund", actor="t"
    )
    results = _threads(
        20,
        lambda i: credit_apply(
            program=program,
            owner_id="eve",
            operation="CREDIT_SPEND",
            amount=1,
            nonce=f"spend-{i}",
            actor="t",
        ),
    )
    ok = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(ok) == 10 and len(refused) == 10, results
    assert credits_balance(program=program, owner_id="eve") == 0
    assert sorted(entry.balance for entry, _ in ok) == list(range(10))


@pytest.mark.postgres
def test_racing_duplicates_of_one_nonce_apply_once(program):
    credit_apply(
        program=program, owner_id="eve", operation="CREDIT_ADD", amount=1, nonce="fund", actor="t"
    )
    results = _threads(
        12,
        lambda i: credit_apply(
            program=program,
            owner_id="eve",
            operation="CREDIT_SPEND",
            amount=1,
            nonce="once",
            actor="t",
        ),
    )
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(created for _, created in results) == 1
    assert len({entry.pk for entry, _ in results}) == 1
    assert credits_balance(program=program, owner_id="eve") == 0


def test_a_credits_account_without_no_overdraft_is_never_spent_below_zero(api, url, program):
    # Such a row can only predate the reserved-code check (POST accounts now refuses the code).
    from ledger.booking.portable import open_account

    open_account(
        program=program, code="user:eve:credits", kind="liability", no_overdraft=False, shards=1
    )
    r = apply(api, url, "n1", "CREDIT_SPEND", owner="eve", amount=50)
    assert r.status_code == 409 and r.json()["code"] == "already_exists"
    assert credits_balance(program=program, owner_id="eve") == 0
    assert not CreditEntry.objects.exists() and not Transaction.objects.exists()


@pytest.mark.parametrize("owner", ["alice\n", "a:b", "a b", ""])
def test_credit_apply_refuses_owner_ids_the_ledger_cannot_name(program, owner):
    from config.platform.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        credit_apply(
            program=program,
            owner_id=owner,
            operation="SIGNUP_CREDIT",
            amount=None,
            nonce="n",
            actor="t",
        )
    assert not CreditEntry.objects.exists() and not Transaction.objects.exists()
