"""The ledger endpoints of SPEC §3, as an API consumer uses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from config.platform.models import AuditEntry
from ledger.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)

WALLET = "user:alice:wallet"


def _postings(debit: str, credit: str, amount: int) -> list[dict]:
    return [
        {"account": debit, "direction": "debit", "amount": amount},
        {"account": credit, "direction": "credit", "amount": amount},
    ]


@pytest.fixture
def wallet(api, url):
    r = api.post(
        url("accounts"),
        {"code": WALLET, "kind": "liability", "currency": "INR", "no_overdraft": True},
        format="json",
    )
    assert r.status_code == 201, r.json()
    return r.json()


def _book(api, url, key, postings, **extra):
    return api.post(
        url("transactions"),
        {"postings": postings, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_account_created_with_zero_balances(wallet):
    assert wallet == {
        "code": WALLET,
        "kind": "liability",
        "currency": "INR",
        "no_overdraft": True,
        "posted": {"debits": 0, "credits": 0, "balance": 0},
        "pending": {"debits": 0, "credits": 0, "balance": 0},
        "available": 0,
    }


def test_posted_transfer_replay_overdraft_and_reversal(api, url, wallet):
    r = _book(
        api,
        url,
        "k1",
        _postings("program:rewards_expense", WALLET, 500),
        description="welcome",
        metadata={"campaign": "spring"},
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "posted" and body["reverses"] is None
    assert body["description"] == "welcome" and body["metadata"] == {"campaign": "spring"}
    assert sorted((p["account"], p["direction"], p["amount"]) for p in body["postings"]) == [
        ("program:rewards_expense", "debit", 500),
        (WALLET, "credit", 500),
    ]
    assert body["created_at"].endswith("Z")
    assert api.get(url(f"transactions/{body['id']}")).json() == body

    replay = _book(
        api,
        url,
        "k1",
        _postings("program:rewards_expense", WALLET, 500),
        description="welcome",
        metadata={"campaign": "spring"},
    )
    assert replay.status_code == 201 and replay.json() == body
    assert replay["Idempotent-Replayed"] == "true"
    assert Transaction.objects.count() == 1

    account = api.get(url(f"accounts/{WALLET}")).json()
    assert account["posted"] == {"debits": 0, "credits": 500, "balance": 500}
    assert account["available"] == 500

    r = _book(api, url, "k2", _postings(WALLET, "program:rewards_expense", 501))
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    assert api.get(url(f"accounts/{WALLET}")).json()["posted"]["balance"] == 500

    rev = api.post(
        url(f"transactions/{body['id']}/reverse"),
        {"reason": "fraud"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k3",
    )
    assert rev.status_code == 201 and rev.json()["reverses"] == body["id"]
    assert sorted((p["account"], p["direction"]) for p in rev.json()["postings"]) == [
        ("program:rewards_expense", "credit"),
        (WALLET, "debit"),
    ]
    again = api.post(
        url(f"transactions/{body['id']}/reverse"),
        {"reason": "fraud"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k4",
    )
    assert again.status_code == 409 and again.json()["code"] == "already_reversed"
    assert api.get(url(f"accounts/{WALLET}")).json()["posted"]["balance"] == 0
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"account.created", "transaction.created", "transaction.reversed"} <= actions


def test_reverse_needs_a_reason(api, url, wallet):
    txn = _book(api, url, "k1", _postings("program:rewards_expense", WALLET, 5)).json()
    r = api.post(
        url(f"transactions/{txn['id']}/reverse"), {}, format="json", HTTP_IDEMPOTENCY_KEY="r"
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "reason"


@pytest.mark.parametrize(("action", "status"), [("post", "posted"), ("void", "voided")])
def test_pending_transfer_is_posted_or_voided_once(api, url, wallet, action, status):
    r = _book(api, url, "k1", _postings("program:rewards_expense", WALLET, 300), pending=True)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    txn_id = r.json()["id"]
    account = api.get(url(f"accounts/{WALLET}")).json()
    assert account["pending"] == {"debits": 0, "credits": 300, "balance": 300}
    assert account["posted"]["balance"] == 0 and account["available"] == 0

    r = api.post(url(f"transactions/{txn_id}/{action}"))
    assert r.status_code == 200 and r.json()["status"] == status
    account = api.get(url(f"accounts/{WALLET}")).json()
    assert account["pending"]["balance"] == 0
    assert account["posted"]["balance"] == (300 if action == "post" else 0)

    for second in ("post", "void"):
        r = api.post(url(f"transactions/{txn_id}/{second}"))
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert api.get(url(f"transactions/{txn_id}")).json()["status"] == status


def test_pending_hold_counts_against_available(api, url, wallet):
    _book(api, url, "fund", _postings("program:rewards_expense", WALLET, 100))
    hold = _book(api, url, "hold", _postings(WALLET, "program:payouts_clearing", 80), pending=True)
    assert hold.status_code == 201
    assert api.get(url(f"accounts/{WALLET}")).json()["available"] == 20
    r = _book(api, url, "spend", _postings(WALLET, "program:payouts_clearing", 30))
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    # A voided hold gives the amount back.
    assert api.post(url(f"transactions/{hold.json()['id']}/void")).status_code == 200
    r = _book(api, url, "spend2", _postings(WALLET, "program:payouts_clearing", 30))
    assert r.status_code == 201
    assert api.get(url(f"accounts/{WALLET}")).json()["available"] == 70


def test_posted_and_pending_cannot_be_reversed_or_resolved_wrongly(api, url, wallet):
    posted = _book(api, url, "k1", _postings("program:rewards_expense", WALLET, 5)).json()
    r = api.post(url(f"transactions/{posted['id']}/post"))
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    pending = _book(
        api, url, "k2", _postings("program:rewards_expense", WALLET, 5), pending=True
    ).json()
    r = api.post(
        url(f"transactions/{pending['id']}/reverse"),
        {"reason": "x"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k3",
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"


def test_balance_as_of_a_time(api, url, wallet):
    _book(api, url, "k1", _postings("program:rewards_expense", WALLET, 100))
    between = timezone.now()
    _book(api, url, "k2", _postings("program:rewards_expense", WALLET, 50))
    _book(api, url, "k3", _postings("program:rewards_expense", WALLET, 7), pending=True)

    at = between.astimezone(UTC).isoformat().replace("+00:00", "Z")
    then = api.get(url(f"accounts/{WALLET}"), {"as_of": at}).json()
    assert then["posted"] == {"debits": 0, "credits": 100, "balance": 100}
    assert then["pending"]["balance"] == 0  # as_of gives the posted balance only
    assert abs(datetime.fromisoformat(then["as_of"]) - between) < timedelta(milliseconds=1)

    before = api.get(url(f"accounts/{WALLET}"), {"as_of": "2000-01-01T00:00:00+00:00"}).json()
    assert before["posted"]["balance"] == 0
    now = api.get(url(f"accounts/{WALLET}")).json()
    assert now["posted"]["balance"] == 150 and now["pending"]["balance"] == 7


def test_entries_newest_first_with_cursor_pagination(api, url, wallet):
    for i in range(5):
        _book(api, url, f"k{i}", _postings("program:rewards_expense", WALLET, 10 + i))
    first = api.get(url(f"accounts/{WALLET}/entries"), {"limit": 2}).json()
    assert set(first) == {"next", "previous", "results"}
    assert first["previous"] is None and first["next"]
    assert [e["amount"] for e in first["results"]] == [14, 13]
    entry = first["results"][0]
    assert entry["account"] == WALLET and entry["direction"] == "credit"
    assert entry["currency"] == "INR" and entry["transaction"]

    amounts = [e["amount"] for e in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"]).json()
        amounts += [e["amount"] for e in page["results"]]
        assert page["previous"]
    assert amounts == [14, 13, 12, 11, 10]
    times = [
        datetime.fromisoformat(e["created_at"])
        for e in api.get(url(f"accounts/{WALLET}/entries")).json()["results"]
    ]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(
    "code", ["user:eve:credits", "user:eve:rewards", "program:rewards_expense", "program:mine"]
)
def test_system_managed_account_codes_are_reserved(api, url, code):
    r = api.post(
        url("accounts"),
        {"code": code, "kind": "liability", "currency": "INR"},
        format="json",
    )
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    assert "reserved" in r.json()["detail"]
    assert r.json()["errors"] == [{"field": "code", "message": "reserved account code"}]


def test_get_or_create_refuses_an_account_of_another_shape(program, api, url, wallet):
    from config.platform.exceptions import AlreadyExists
    from ledger.models import Account
    from ledger.services.accounts import account_get_or_create

    with pytest.raises(AlreadyExists, match="no_overdraft=True"):
        account_get_or_create(program=program, code=WALLET, kind="liability")
    with pytest.raises(AlreadyExists, match="asset"):
        account_get_or_create(program=program, code=WALLET, kind="asset", no_overdraft=True)
    same = account_get_or_create(program=program, code=WALLET, kind="liability", no_overdraft=True)
    assert same == Account.objects.get(program=program, code=WALLET)


def test_reversing_a_posted_two_phase_transfer_reports_the_id_reversed(api, url, wallet):
    pending = _book(
        api, url, "k1", _postings("program:rewards_expense", WALLET, 40), pending=True
    ).json()
    assert api.post(url(f"transactions/{pending['id']}/post")).status_code == 200
    r = api.post(
        url(f"transactions/{pending['id']}/reverse"),
        {"reason": "refund"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["reverses"] == pending["id"]
    assert api.get(url(f"transactions/{r.json()['id']}")).json()["reverses"] == pending["id"]
    assert api.get(url(f"accounts/{WALLET}")).json()["posted"]["balance"] == 0


@pytest.mark.parametrize("as_of", ["2026-02-30T00:00:00Z", "2026-01-31T00:00:00", "soon"])
def test_balance_as_of_an_invalid_time_is_400(api, url, wallet, as_of):
    r = api.get(url(f"accounts/{WALLET}"), {"as_of": as_of})
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    assert r.json()["errors"] == [{"field": "as_of", "message": "invalid time"}]


@pytest.mark.parametrize("reason", [5, True, None, ["x"]])
def test_reverse_reason_must_be_a_string(api, url, wallet, reason):
    txn = _book(api, url, "k1", _postings("program:rewards_expense", WALLET, 5)).json()
    r = api.post(
        url(f"transactions/{txn['id']}/reverse"),
        {"reason": reason},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r",
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "reason"
    assert Transaction.objects.count() == 1


@pytest.mark.postgres
def test_a_failing_account_cache_never_turns_a_committed_booking_into_an_error(
    api, url, wallet, monkeypatch
):
    from ledger import accounts

    class Broken(dict):
        def __setitem__(self, key, value):
            raise MemoryError("cache hiccup")

    monkeypatch.setattr(accounts, "_ACCOUNTS", Broken())
    r = _book(api, url, "k1", _postings("program:rewards_expense", WALLET, 9))
    assert r.status_code == 201, r.json()
    assert Transaction.objects.filter(pk=r.json()["id"]).exists()
    assert api.get(url(f"accounts/{WALLET}")).json()["posted"]["balance"] == 9
