"""Issue 11, item 7 (postings): amounts have a money limit (MAX_AMOUNT, in the OpenAPI schema),
and a booking that would overflow an account's stored totals (bigints) is a 400
`validation_error` that changes nothing, never a 500: "1000 x 10^15 posted ten times"."""

from __future__ import annotations

import pytest
from django.db import connection

from config.platform.currencies import MAX_AMOUNT
from config.platform.exceptions import ValidationFailed
from ledger.booking.lines import PostingLine
from ledger.booking.totals import BalanceOverflow
from ledger.models import Account, AccountBalance, Posting, Transaction
from ledger.services.transactions import transaction_create
from rules.rewards.models import Reward

pytestmark = pytest.mark.django_db(transaction=True)

EXPENSE, CLEARING = "program:rewards_expense", "program:payouts_clearing"
BIGINT_MAX = 2**63 - 1


def _near_the_top(program, code: str, column: str, room: int) -> Account:
    """Set an account's stored total to `room` below the bigint maximum (an UPDATE of totals,
    which the database allows), as years of bookings could."""
    account = Account.objects.get(program=program, code=code)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE ledger_accountbalance SET {column} = %s WHERE account_id = %s",
            [BIGINT_MAX - room, account.pk],
        )
    return account


def _totals(account: Account) -> list[tuple[int, int, int, int]]:
    return list(
        AccountBalance.objects.filter(account=account)
        .order_by("shard")
        .values_list("posted_debits", "posted_credits", "pending_debits", "pending_credits")
    )


def _body(amount: int, *, n: int = 1, pending: bool = False) -> dict:
    return {
        "postings": [{"account": EXPENSE, "direction": "debit", "amount": amount}] * n
        + [{"account": CLEARING, "direction": "credit", "amount": amount}] * n,
        "pending": pending,
    }


def test_the_issue_reproduction_is_a_clear_400(program, api, url):
    """1000 postings of 10^15 each fit one by one; ten of them would overflow the totals. The
    transaction is refused whole (at most 500 postings), and nothing is written."""
    for i in range(10):
        r = api.post(
            url("transactions"),
            _body(10**15, n=500),
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"big-{i}",
        )
        assert r.status_code == 400, r.content
        assert r["Content-Type"] == "application/problem+json"
        assert r.json()["code"] == "validation_error"
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("pending", [False, True])
def test_a_booking_that_would_overflow_a_balance_is_400_and_changes_nothing(
    program, api, url, pending
):
    column = "pending_credits" if pending else "posted_credits"
    clearing = _near_the_top(program, CLEARING, column, room=50)
    before = _totals(clearing)

    r = api.post(
        url("transactions"), _body(100, pending=pending), format="json", HTTP_IDEMPOTENCY_KEY="o"
    )

    assert r.status_code == 400, r.content
    assert r.json()["code"] == "validation_error"
    assert CLEARING in r.json()["detail"]
    assert not Transaction.objects.exists() and not Posting.objects.exists()
    assert _totals(clearing) == before
    # Up to the top it still books: exactly what is left fits.
    r = api.post(
        url("transactions"), _body(50, pending=pending), format="json", HTTP_IDEMPOTENCY_KEY="f"
    )
    assert r.status_code == 201, r.content


def test_overflow_through_a_reward_is_400_and_writes_no_reward(program, api, url):
    from ledger.services.accounts import account_get_or_create

    account_get_or_create(program=program, code="user:carol:rewards", kind="liability")
    _near_the_top(program, "user:carol:rewards", "pending_credits", room=10)
    r = api.post(
        url("rewards"),
        {"beneficiary": "carol", "amount": 100, "currency": "INR", "reward_type": "cash"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r",
    )
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "validation_error"
    assert not Reward.objects.exists() and not Transaction.objects.exists()


def test_the_service_refuses_overflow_on_every_database(program):
    _near_the_top(program, CLEARING, "posted_credits", room=1)
    with pytest.raises(BalanceOverflow):
        transaction_create(
            program=program,
            postings=[PostingLine(EXPENSE, "debit", 2), PostingLine(CLEARING, "credit", 2)],
        )
    assert not Transaction.objects.exists()


def test_amounts_above_the_money_limit_are_refused(program, api, url):
    r = api.post(
        url("transactions"), _body(MAX_AMOUNT + 1), format="json", HTTP_IDEMPOTENCY_KEY="x"
    )
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    with pytest.raises(ValidationFailed, match="money limit"):
        transaction_create(
            program=program,
            postings=[
                PostingLine(EXPENSE, "debit", MAX_AMOUNT + 1),
                PostingLine(CLEARING, "credit", MAX_AMOUNT + 1),
            ],
        )
    assert not Transaction.objects.exists()


def test_the_money_limit_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    amount = schema["components"]["schemas"]["PostingInputRequest"]["properties"]["amount"]
    assert amount["maximum"] == MAX_AMOUNT and amount["minimum"] == 1
    assert "money limit" in amount["description"]
