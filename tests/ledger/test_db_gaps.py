"""Issue 11, item 5: the database closes its remaining gaps (migration 0010 and rules 0004), for
raw SQL in committed transactions: a posting in another currency, DELETE on the records money
depends on, UPDATE of the columns no lifecycle moves, webhook messages outside the retention job,
more than 500 postings, and the balance check at commit once per transaction."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.platform.models import AuditEntry, IdempotencyRecord, WebhookDelivery, WebhookMessage
from config.platform.webhooks.endpoints import webhook_endpoint_create, webhook_endpoint_delete
from config.platform.webhooks.retention import webhook_messages_purge
from config.platform.webhooks.services import webhook_emit
from ledger.booking.lines import MAX_POSTINGS, PostingLine
from ledger.models import Account, AccountBalance, Posting, ReconciliationRun, Transaction
from ledger.services.reconciliation_runs import reconciliation_record
from ledger.services.transactions import transaction_create
from rules.rewards.models import CreditEntry, PayoutCoverage, PayoutItem, Reward
from rules.rewards.services import payouts
from rules.rewards.services.credits import credit_apply
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import CREATOR
from tests.rules.conftest import ALWAYS, reward_action, rule_def

pytestmark = pytest.mark.django_db(transaction=True)

EXPENSE, CLEARING = "program:rewards_expense", "program:payouts_clearing"


def _sql(statement: str, params: list[Any] | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _db_uuid(value: uuid.UUID) -> Any:
    return value.hex if connection.vendor == "sqlite" else value


def _transfer(program, amount: int = 100) -> Transaction:
    return transaction_create(
        program=program,
        postings=[PostingLine(EXPENSE, "debit", amount), PostingLine(CLEARING, "credit", amount)],
    )


def _raw_posting(txn_id, account: Account, direction: str, amount: int, currency: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency,"
            " kind, created_at) VALUES (%s, %s, %s, %s, %s, 'posted', %s)",
            [_db_uuid(txn_id), account.pk, direction, amount, currency, timezone.now()],
        )


def _raw_transaction(program) -> uuid.UUID:
    txn_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (id, program_id, kind, description, metadata,"
            " reference, created_at) VALUES (%s, %s, 'posted', '', '{}', '', %s)",
            [_db_uuid(txn_id), program.pk, timezone.now()],
        )
    return txn_id


# --- postings -------------------------------------------------------------------------------


def test_a_posting_in_another_currency_than_its_account_is_refused(program):
    expense = Account.objects.get(program=program, code=EXPENSE)
    clearing = Account.objects.get(program=program, code=CLEARING)
    with pytest.raises(IntegrityError, match="currency"):
        with transaction.atomic():
            txn_id = _raw_transaction(program)
            _raw_posting(txn_id, expense, "debit", 100, "USD")
            _raw_posting(txn_id, clearing, "credit", 100, "USD")
    assert not Posting.objects.exists()


def test_at_most_500_postings_api_says_400(program, api, url):
    lines = [{"account": EXPENSE, "direction": "debit", "amount": 1}] * MAX_POSTINGS
    lines += [{"account": CLEARING, "direction": "credit", "amount": MAX_POSTINGS}]
    r = api.post(url("transactions"), {"postings": lines}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "validation_error" and "500" in r.json()["detail"]
    assert not Transaction.objects.exists()
    # 500 is still fine.
    lines = [*lines[1:-1], {"account": CLEARING, "direction": "credit", "amount": MAX_POSTINGS - 1}]
    r = api.post(url("transactions"), {"postings": lines}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert r.status_code == 201, r.content
    assert Posting.objects.count() == MAX_POSTINGS


def test_at_most_500_postings_in_the_database(program):
    expense = Account.objects.get(program=program, code=EXPENSE)
    clearing = Account.objects.get(program=program, code=CLEARING)
    with pytest.raises(IntegrityError, match="at most 500"):
        with transaction.atomic():
            txn_id = _raw_transaction(program)
            for _ in range(MAX_POSTINGS):
                _raw_posting(txn_id, expense, "debit", 1, "INR")
            _raw_posting(txn_id, clearing, "credit", MAX_POSTINGS, "INR")
    assert not Posting.objects.exists()


@pytest.mark.postgres
def test_the_balance_check_runs_once_per_transaction_not_per_posting():
    """0002 checked the whole transaction again for every posting row (quadratic: 32 s for
    10,000 postings). Only the per-transaction deferred check remains; postings get a
    statement-level check (currency, committed transaction) instead."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname, p.proname, (t.tgtype & 1) = 1 AS per_row FROM pg_trigger t"
            " JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE t.tgrelid = 'ledger_posting'::regclass AND NOT t.tgisinternal"
            " AND t.tgtype & 4 = 4"  # INSERT
        )
        posting_insert = {name: (proc, per_row) for name, proc, per_row in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'ledger_transaction'::regclass"
            " AND tgname = 'ledger_transaction_balanced' AND tgdeferrable AND tginitdeferred"
        )
        (per_transaction,) = cursor.fetchone()
    assert "ledger_posting_balanced" not in posting_insert
    assert all(not per_row for _, per_row in posting_insert.values()), posting_insert
    assert per_transaction == 1


@pytest.mark.postgres
def test_a_large_transaction_is_still_checked_for_balance_at_commit(program):
    expense = Account.objects.get(program=program, code=EXPENSE)
    clearing = Account.objects.get(program=program, code=CLEARING)
    with pytest.raises(IntegrityError, match="unbalanced"):
        with transaction.atomic():
            txn_id = _raw_transaction(program)
            for _ in range(400):
                _raw_posting(txn_id, expense, "debit", 1, "INR")
            _raw_posting(txn_id, clearing, "credit", 399, "INR")
    assert not Posting.objects.exists()


# --- DELETE and UPDATE ----------------------------------------------------------------------


@pytest.fixture
def rows(program, api, url, confirmed_reward, approved_batch):
    """One row of every protected table."""
    r = api.post(
        url("transactions"),
        {
            "postings": [
                {"account": EXPENSE, "direction": "debit", "amount": 5},
                {"account": CLEARING, "direction": "credit", "amount": 5},
            ]
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="once",
    )
    assert r.status_code == 201
    confirmed_reward("carol", 1000)
    batch = approved_batch({"carol": None})
    payouts.payout_batch_execute(batch=batch, actor=CREATOR)
    credit_apply(
        program=program, owner_id="eve", operation="CREDIT_ADD", amount=None, nonce="n", actor="t"
    )
    reconciliation_record(program=program, actor="test")
    from rules.models import Event, RewardLink, RuleVersion
    from rules.services.events import event_ingest
    from rules.services.processing import event_process
    from rules.services.referrals import referral_create
    from rules.services.rules import rule_create, rule_publish

    definition = rule_def(trigger="signup", conditions=ALWAYS, actions=[reward_action(100)])
    rule_publish(rule=rule_create(program=program, definition=definition, actor="t"), actor="t")
    referral_create(program=program, referrer="alice", referred="bob", actor="t")
    event, _ = event_ingest(
        program=program,
        event_id="e1",
        type="signup",
        user="bob",
        data={},
        attributes={},
        occurred_at=None,
        actor="t",
    )
    event_process(event_pk=event.pk)

    assert RewardLink.objects.exists() and RuleVersion.objects.exists() and Event.objects.exists()
    return {"batch": batch}


PROTECTED = [
    (IdempotencyRecord, "ledger_idempotencyrecord"),
    (CreditEntry, "ledger_creditentry"),
    (AccountBalance, "ledger_accountbalance"),
    (PayoutCoverage, "ledger_payoutcoverage"),
    (PayoutItem, "ledger_payoutitem"),
    (ReconciliationRun, "ledger_reconciliationrun"),
    (Reward, "ledger_reward"),
    (Account, "ledger_account"),
    (None, "rules_ruleversion"),
    (None, "rules_rewardlink"),
    (None, "rules_event"),
]


@pytest.mark.parametrize("table", [t for _, t in PROTECTED])
def test_delete_is_refused(rows, table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        (before,) = cursor.fetchone()
    assert before > 0
    with pytest.raises(IntegrityError, match="not allowed"):
        _sql(f"DELETE FROM {table}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone() == (before,)


def test_deleting_an_idempotency_record_cannot_let_a_replay_pay_twice(program, api, url):
    body = {
        "postings": [
            {"account": EXPENSE, "direction": "debit", "amount": 5},
            {"account": CLEARING, "direction": "credit", "amount": 5},
        ]
    }
    first = api.post(url("transactions"), body, format="json", HTTP_IDEMPOTENCY_KEY="pay-once")
    with pytest.raises(IntegrityError):
        _sql("DELETE FROM ledger_idempotencyrecord")
    replay = api.post(url("transactions"), body, format="json", HTTP_IDEMPOTENCY_KEY="pay-once")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert Transaction.objects.count() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_reward SET amount = amount * 100",
        "UPDATE ledger_reward SET beneficiary = 'mallory'",
        "UPDATE ledger_accountbalance SET shard = shard + 7",
        "UPDATE ledger_account SET no_overdraft = NOT no_overdraft",
        "UPDATE ledger_account SET currency = 'USD'",
        "UPDATE ledger_idempotencyrecord SET response_status = 500",
        "UPDATE ledger_creditentry SET amount = amount + 1",
        "UPDATE ledger_payoutitem SET amount = amount + 1",
        "UPDATE ledger_payoutitem SET transaction_id = NULL",
        "UPDATE ledger_payoutcoverage SET reward_id = reward_id",
        "UPDATE ledger_payoutbatch SET created_by = 'user:someone_else'",
        "UPDATE ledger_reconciliationrun SET status = 'clean'",
        "UPDATE rules_ruleversion SET created_by = 'nobody'",
        "UPDATE rules_rewardlink SET amount = amount + 1",
        "UPDATE rules_event SET type = 'purchase'",
    ],
)
def test_update_of_a_frozen_column_is_refused(rows, statement):
    with pytest.raises(IntegrityError, match="not allowed"):
        _sql(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_reward SET updated_at = updated_at, status = status",
        "UPDATE ledger_accountbalance SET posted_debits = posted_debits",
        "UPDATE rules_event SET attempts = attempts, error = ''",
        "UPDATE ledger_payoutbatch SET description = 'March'",
    ],
)
def test_update_of_lifecycle_columns_is_allowed(rows, statement):
    _sql(statement)


# --- webhook messages -----------------------------------------------------------------------


@pytest.fixture
def endpoint(program):
    return webhook_endpoint_create(
        program=program,
        url="https://hooks.example.com/in",
        events=["reward.created"],
        actor="test",
    )


def _message(program, *, delivered_days_ago: int | None) -> WebhookMessage:
    with transaction.atomic():
        webhook_emit(program=program, event_type="reward.created", payload={"n": 1})
    message = WebhookMessage.objects.order_by("-created_at").first()
    assert message is not None
    if delivered_days_ago is not None:
        WebhookMessage.objects.filter(pk=message.pk).update(
            status="delivered", delivered_at=timezone.now() - timedelta(days=delivered_days_ago)
        )
    else:  # not delivered: keep it from being sent by any sweep
        WebhookMessage.objects.filter(pk=message.pk).update(status="failed")
    return message


def test_webhook_messages_are_deleted_only_by_the_retention_job(program, endpoint, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    old = _message(program, delivered_days_ago=31)
    recent = _message(program, delivered_days_ago=2)
    failed = _message(program, delivered_days_ago=None)
    WebhookDelivery.objects.create(message=old, endpoint=endpoint, attempt=1, status_code=200)

    with pytest.raises(IntegrityError, match="retention"):
        _sql("DELETE FROM ledger_webhookmessage WHERE status = 'failed'")

    assert webhook_messages_purge() == 1
    assert set(WebhookMessage.objects.values_list("pk", flat=True)) == {recent.pk, failed.pk}
    entry = AuditEntry.objects.get(action="webhook_messages.purged")
    assert entry.after is not None
    assert entry.after["deleted"] == 1 and entry.after["days"] == 30
    assert webhook_messages_purge() == 0


@pytest.mark.postgres
def test_even_a_delivered_message_is_not_deleted_outside_the_job(program, endpoint):
    _message(program, delivered_days_ago=400)
    with pytest.raises(IntegrityError, match="retention"):
        _sql("DELETE FROM ledger_webhookmessage")
    assert WebhookMessage.objects.count() == 1


def test_webhook_message_content_never_changes(program, endpoint):
    _message(program, delivered_days_ago=None)
    with pytest.raises(IntegrityError, match="not allowed"):
        _sql("UPDATE ledger_webhookmessage SET payload = '{\"n\": 2}'")


def test_deleting_an_endpoint_still_removes_its_messages(program, endpoint):
    _message(program, delivered_days_ago=None)
    webhook_endpoint_delete(endpoint=endpoint, actor="test")
    assert not WebhookMessage.objects.exists()


def test_purge_command(program, endpoint):
    from io import StringIO

    from django.core.management import call_command

    _message(program, delivered_days_ago=100)
    out = StringIO()
    call_command("purge_webhook_messages", "--older-than-days", "90", stdout=out)
    assert "Purged 1" in out.getvalue()
    assert not WebhookMessage.objects.exists()
