"""Reward and payout reconciliation checks, stored runs, the API, the command and the nightly
task (SPEC §8). Discrepancies are planted by raw SQL; where a table is append-only the test
switches the triggers off inside its own (rolled-back) transaction, as only a superuser can."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from ledger.booking.lines import PostingLine
from ledger.models import ReconciliationRun
from ledger.services.reconciliation import reconciliation_run
from ledger.services.reconciliation_runs import reconciliation_record
from ledger.services.transactions import transaction_create, transaction_post, transaction_reverse
from ledger.tasks import reconcile_nightly
from rules.rewards.models import PayoutItem, Reward
from rules.rewards.services import payouts
from rules.rewards.services.programs import program_create
from rules.rewards.services.rewards import reward_clawback, reward_create, reward_reverse
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import APPROVER
from tests.ledger.triggers import triggers_off

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _planted_discrepancies_are_rolled_back(db):
    """The discrepancies planted here break the database's commit-time rules (a reward's state
    against its money, migration 0010) on purpose; the test's transaction is rolled back, so
    the end-of-test check of deferred constraints is skipped rather than failed."""
    yield
    transaction.set_rollback(True)


def _sql(sql: str, params: list | None = None) -> None:
    with connection.cursor() as c:
        c.execute(sql, params or [])


def _triggers_off() -> None:
    _sql("SET LOCAL session_replication_role = replica")


def _uuid(value) -> str:
    return value.hex if connection.vendor == "sqlite" else str(value)


def _findings(program, check: str) -> list[dict]:
    return [f for f in reconciliation_run(program=program).findings if f["check"] == check]


@pytest.fixture
def books(program, confirmed_reward, approved_batch):
    """One reward in every state, a clawback and an executed payout: a clean ledger."""
    pending, _ = reward_create(
        program=program,
        beneficiary="erin",
        amount=300,
        currency="INR",
        reward_type="cash",
        source_key="pending",
        actor="test",
    )
    reversed_ = reward_reverse(reward=confirmed_reward("erin", 200), reason="fraud", actor="t")
    clawed = confirmed_reward("carol", 1000)
    paid = confirmed_reward("dave", 700)
    batch = approved_batch({"carol": None, "dave": None})
    payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    clawed.refresh_from_db()
    clawed = reward_clawback(reward=clawed, reason="refund", actor="t")
    confirmed = confirmed_reward("frank", 400)
    return {
        "pending": pending,
        "confirmed": confirmed,
        "reversed": reversed_,
        "paid": Reward.objects.get(pk=paid.pk),
        "clawed_back": clawed,
        "batch": batch,
        "item": batch.items.get(beneficiary="dave"),
    }


def test_a_complete_ledger_is_clean(program, books):
    report = reconciliation_run(program=program)
    assert report.status == "clean", report.findings
    names = {c["name"] for c in report.checks}
    assert {"reward_states", "clawback_transfers", "payout_transfers"} <= names


@pytest.mark.parametrize(
    ("state", "planted", "expected"),
    [
        ("pending", "confirmed", "pending"),
        ("confirmed", "paid", "confirmed"),
        ("confirmed", "pending", "confirmed"),
        ("paid", "confirmed", "paid"),
        ("reversed", "confirmed", "reversed"),
        ("clawed_back", "paid", "clawed_back"),
    ],
)
def test_reward_status_that_its_ledger_contradicts(program, books, state, planted, expected):
    reward = books[state]
    _sql("UPDATE ledger_reward SET status = %s WHERE id = %s", [planted, reward.pk])

    [finding] = _findings(program, "reward_states")

    assert (finding["object_type"], finding["object_id"]) == ("reward", str(reward.pk))
    assert (finding["expected"], finding["actual"]) == (expected, planted)


def test_clawed_back_reward_without_its_clawback(program, books):
    reward = books["clawed_back"]
    with triggers_off():
        _sql("UPDATE ledger_reward SET clawback_transaction_id = NULL WHERE id = %s", [reward.pk])
    [finding] = _findings(program, "reward_states")
    assert finding["object_id"] == str(reward.pk) and finding["expected"] == "paid"


def test_paid_reward_whose_payout_lost_its_transfer(program, books):
    item = books["item"]
    with triggers_off():
        _sql("UPDATE ledger_payoutitem SET transaction_id = NULL WHERE id = %s", [item.pk])

    report = reconciliation_run(program=program)

    by_check = {(f["check"], f["object_type"], f["object_id"]) for f in report.findings}
    assert ("payout_transfers", "payout_item", str(item.pk)) in by_check
    assert ("payout_transfers", "transaction", str(item.transaction_id)) in by_check  # orphan
    assert ("reward_states", "reward", str(books["paid"].pk)) in by_check


def test_transfer_on_a_batch_that_is_not_executed(program, books):
    batch = books["batch"]
    _sql("UPDATE ledger_payoutbatch SET status = 'approved' WHERE id = %s", [batch.pk])
    findings = _findings(program, "payout_transfers")
    assert {f["object_id"] for f in findings} == {str(i.pk) for i in batch.items.all()}
    assert "approved but the item has a transfer" in findings[0]["message"]


def test_reversed_payout_transfer(program, books):
    item = books["item"]
    with triggers_off():
        transaction_reverse(program=program, original=item.transaction, reason="bank bounced")
    [finding] = _findings(program, "payout_transfers")
    assert finding["object_id"] == str(item.pk) and "reversed" in finding["message"]


def test_reversed_clawback_transfer(program, books):
    reward = books["clawed_back"]
    with triggers_off():
        transaction_reverse(program=program, original=reward.clawback_transaction, reason="oops")
    [finding] = _findings(program, "clawback_transfers")
    assert finding["object_id"] == str(reward.pk)


@pytest.mark.postgres
def test_payout_transfer_with_the_wrong_amount(program, books):
    item = books["item"]
    _triggers_off()
    _sql(
        "UPDATE ledger_posting SET amount = amount - 1 WHERE transaction_id = %s",
        [_uuid(item.transaction_id)],
    )
    [finding] = _findings(program, "payout_transfers")
    assert finding["object_id"] == str(item.pk) and finding["expected"] == item.amount


@pytest.mark.postgres
def test_payout_transfer_to_the_wrong_account(program, books):
    item = books["item"]
    _triggers_off()
    _sql(
        """UPDATE ledger_posting SET account_id = (
               SELECT id FROM ledger_account WHERE code = 'program:rewards_expense'
                  AND program_id = %s)
            WHERE transaction_id = %s AND direction = 'credit'""",
        [program.pk, _uuid(item.transaction_id)],
    )
    assert [f["object_id"] for f in _findings(program, "payout_transfers")] == [str(item.pk)]


@pytest.mark.postgres
def test_reward_booked_with_the_wrong_amount(program, books):
    reward = books["pending"]
    _triggers_off()
    _sql(
        "UPDATE ledger_posting SET amount = 1 WHERE transaction_id = %s",
        [_uuid(reward.transaction_id)],
    )
    [finding] = _findings(program, "reward_states")
    assert finding["object_id"] == str(reward.pk) and "does not credit 300" in finding["message"]


@pytest.mark.postgres
def test_reversed_reward_whose_reversal_was_unlinked(program, books, confirmed_reward):
    reward = reward_reverse(reward=confirmed_reward("gina", 50), reason="dup", actor="t")
    assert reward.transaction is not None
    post = reward.transaction.resolution
    reversal = post.reversal
    _triggers_off()
    _sql(
        "UPDATE ledger_transaction SET kind = 'posted', reverses_id = NULL WHERE id = %s",
        [_uuid(reversal.pk)],
    )
    [finding] = _findings(program, "reward_states")
    assert (finding["object_id"], finding["expected"]) == (str(reward.pk), "confirmed")


def test_pending_reward_whose_transaction_was_posted_behind_its_back(program, books):
    reward = books["pending"]
    transaction_post(program=program, pending=reward.transaction)
    [finding] = _findings(program, "reward_states")
    assert (finding["expected"], finding["actual"]) == ("confirmed", "pending")


def test_payout_transfer_double_booked(program, books):
    """A second transfer for an item (e.g. a buggy retry outside the service) is an orphan."""
    item = books["item"]
    txn = transaction_create(
        program=program,
        postings=[
            PostingLine("user:dave:rewards", "debit", 1),
            PostingLine("program:payouts_clearing", "credit", 1),
        ],
        reference=item.reference,
    )
    [finding] = _findings(program, "payout_transfers")
    assert (finding["object_type"], finding["object_id"]) == ("transaction", str(txn.pk))


# --- stored runs -----------------------------------------------------------------------------


def test_record_stores_the_run(program, books):
    run = reconciliation_record(program=program, actor="user:ops")
    assert run.status == "clean" and run.program == program and run.actor == "user:ops"
    assert run.checks and run.findings == []
    with triggers_off():
        PayoutItem.objects.filter(pk=books["item"].pk).update(transaction=None)
    second = reconciliation_record(program=program, actor="user:ops")
    assert second.status == "discrepancies" and second.findings


def test_whole_ledger_run_stores_each_programs_run_too(program, books):
    program_create(slug="other", name="Other", currency="USD")
    run = reconciliation_record(actor="schedule:nightly_reconciliation")
    assert run.program is None and run.status == "clean"
    assert set(
        ReconciliationRun.objects.exclude(pk=run.pk).values_list("program__slug", flat=True)
    ) == {"acme", "other"}


def test_nightly_task_records_runs(program, books):
    assert reconcile_nightly() == "clean"
    assert ReconciliationRun.objects.filter(program=program).get().actor.startswith("schedule:")


def test_reconcile_command_stores_a_run(program, books):
    out = StringIO()
    call_command("reconcile", "--program", "acme", stdout=out, stderr=StringIO())
    run = ReconciliationRun.objects.get()
    assert (run.program, run.actor, run.status) == (program, "command:reconcile", "clean")

    _sql("UPDATE ledger_reward SET status = 'paid' WHERE id = %s", [books["confirmed"].pk])
    with pytest.raises(CommandError):
        call_command("reconcile", "--program", "acme", stdout=out, stderr=StringIO())
    assert ReconciliationRun.objects.latest().status == "discrepancies"


def test_api_post_and_latest(api, url, program, books):
    r = api.get(url("reconciliations/latest"))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")

    r = api.post(url("reconciliations"), format="json")
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "clean" and body["findings"] == []
    assert {"id", "status", "checks", "findings"} <= set(body)
    assert api.get(url("reconciliations/latest")).json()["id"] == body["id"]

    _sql("UPDATE ledger_reward SET status = 'paid' WHERE id = %s", [books["confirmed"].pk])
    r = api.post(url("reconciliations"), format="json")
    assert r.json()["status"] == "discrepancies"
    [finding] = r.json()["findings"]
    assert finding["check"] == "reward_states"
    assert api.get(url("reconciliations/latest")).json()["id"] == r.json()["id"]


def test_latest_never_shows_another_programs_run(api, url, program):
    other, _ = program_create(slug="other", name="Other", currency="INR")
    reconciliation_record(program=other, actor="user:ops")
    assert api.get(url("reconciliations/latest")).status_code == 404
