import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _txn(api, url, key, postings, **extra):
    return api.post(
        url("transactions"),
        {"postings": postings, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_account_and_transaction_roundtrip(api, url):
    r = api.post(
        url("accounts"),
        {"code": "user:alice:wallet", "kind": "liability", "currency": "INR", "no_overdraft": True},
        format="json",
    )
    assert r.status_code == 201, r.json()
    r = _txn(
        api,
        url,
        "k1",
        [
            {"account": "program:rewards_expense", "direction": "debit", "amount": 500},
            {"account": "user:alice:wallet", "direction": "credit", "amount": 500},
        ],
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "posted" and body["reverses"] is None
    replay = _txn(
        api,
        url,
        "k1",
        [
            {"account": "program:rewards_expense", "direction": "debit", "amount": 500},
            {"account": "user:alice:wallet", "direction": "credit", "amount": 500},
        ],
    )
    assert replay.status_code == 201 and replay.json() == body
    assert replay.headers["Idempotent-Replayed"] == "true"
    r = api.get(url("accounts/user:alice:wallet"))
    assert r.json()["posted"]["balance"] == 500 and r.json()["available"] == 500
    r = _txn(
        api,
        url,
        "k2",
        [
            {"account": "user:alice:wallet", "direction": "debit", "amount": 501},
            {"account": "program:rewards_expense", "direction": "credit", "amount": 501},
        ],
    )
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    rev = api.post(
        url(f"transactions/{body['id']}/reverse"),
        {"reason": "fraud"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k3",
    )
    assert rev.status_code == 201 and rev.json()["reverses"] == body["id"]
    again = api.post(
        url(f"transactions/{body['id']}/reverse"),
        {"reason": "fraud"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k4",
    )
    assert again.status_code == 409 and again.json()["code"] == "already_reversed"
    assert api.get(url("accounts/user:alice:wallet")).json()["posted"]["balance"] == 0


def test_raw_sql_cannot_change_postings(api, url):
    from django.db import IntegrityError, connection, transaction

    _txn(
        api,
        url,
        "k1",
        [
            {"account": "program:rewards_expense", "direction": "debit", "amount": 5},
            {"account": "program:payouts_clearing", "direction": "credit", "amount": 5},
        ],
    )
    for sql in ["UPDATE ledger_posting SET amount = 1", "DELETE FROM ledger_posting"]:
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as c:
            c.execute(sql)
