"""Payout batch services (SPEC §7): every transition, the two-person rule, execution."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connections, transaction

from config.platform.currencies import currency_exponent
from config.platform.exceptions import (
    AlreadyExists,
    FourEyesViolation,
    InsufficientFunds,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from config.platform.models import AuditEntry
from ledger.models import Transaction
from ledger.selectors import account_balance, account_get
from rules.rewards.models import PayoutBatch, PayoutItem, Reward
from rules.rewards.services import payouts
from rules.rewards.services.rewards import reward_reverse
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import APPROVER, CREATOR

pytestmark = pytest.mark.django_db(transaction=True)


def _available(program, user: str) -> int:
    return account_balance(account_get(program=program, code=f"user:{user}:rewards"))["available"]


def _payout_txns(program) -> int:
    return Transaction.objects.filter(program=program, reference__startswith="payout:").count()


def test_full_lifecycle_books_transfers_and_marks_rewards_paid(program, confirmed_reward):
    r1 = confirmed_reward("carol", 1000)
    r2 = confirmed_reward("carol", 500)
    r3 = confirmed_reward("dave", 700)

    batch = payouts.payout_batch_create(program=program, actor=CREATOR, description="March")
    assert batch.status == "draft" and batch.currency == "INR"
    carol = payouts.payout_item_add(batch=batch, beneficiary="carol", actor=CREATOR)
    assert carol.amount == 1500  # default: the whole available balance
    payouts.payout_item_add(batch=batch, beneficiary="dave", amount=700, actor=CREATOR)
    assert payouts.payout_batch_submit(batch=batch, actor=CREATOR).status == "pending_approval"
    approved = payouts.payout_batch_approve(batch=batch, actor=APPROVER)
    assert approved.status == "approved" and approved.approved_by == APPROVER

    executed = payouts.payout_batch_execute(batch=batch, actor=CREATOR)

    assert executed.status == "executed" and executed.executed_at is not None
    assert {r.status for r in Reward.objects.filter(pk__in=[r1.pk, r2.pk, r3.pk])} == {"paid"}
    assert _available(program, "carol") == 0 and _available(program, "dave") == 0
    clearing = account_get(program=program, code="program:payouts_clearing")
    assert account_balance(clearing)["posted"]["balance"] == 2200
    for item in PayoutItem.objects.filter(batch=batch):
        txn = item.transaction
        assert txn is not None
        assert txn.reference == f"payout:{batch.pk}:{item.pk}" and txn.kind == "posted"
        legs = {(p.account.code, p.direction, p.amount) for p in txn.postings.all()}
        assert legs == {
            (f"user:{item.beneficiary}:rewards", "debit", item.amount),
            ("program:payouts_clearing", "credit", item.amount),
        }
    assert set(carol.coverages.values_list("reward_id", flat=True)) == {r1.pk, r2.pk}


def test_creator_can_never_approve(program, confirmed_reward):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor=CREATOR)
    payouts.payout_batch_submit(batch=batch, actor=CREATOR)

    with pytest.raises(FourEyesViolation):
        payouts.payout_batch_approve(batch=batch, actor=CREATOR)

    batch.refresh_from_db()
    assert batch.status == "pending_approval" and batch.approved_by == ""


def test_database_refuses_an_approval_by_the_creator(program):
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.filter(pk=batch.pk).update(status="approved", approved_by=CREATOR)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.filter(pk=batch.pk).update(status="approved")  # no approver


def test_an_api_key_and_its_owners_session_are_one_identity(program, confirmed_reward):
    from django.contrib.auth import get_user_model

    from config.platform.api_keys import api_key_create

    alice = get_user_model().objects.create_user("alice", password="pw", is_staff=True)
    key, _ = api_key_create(program=program, owner=alice)
    assert key.actor == "user:alice"  # what her session's actor is too
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=key.actor)
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor=key.actor)
    payouts.payout_batch_submit(batch=batch, actor=key.actor)
    with pytest.raises(FourEyesViolation):
        payouts.payout_batch_approve(batch=batch, actor="user:alice")
    assert payouts.payout_batch_approve(batch=batch, actor="user:bob").status == "approved"


@pytest.mark.parametrize(
    ("state", "step"),
    [
        ("draft", "approve"),
        ("draft", "execute"),
        ("pending_approval", "submit"),
        ("pending_approval", "execute"),
        ("approved", "submit"),
        ("approved", "approve"),
        ("executed", "submit"),
        ("executed", "approve"),
        ("executed", "reject"),
        ("rejected", "submit"),
        ("rejected", "approve"),
        ("rejected", "execute"),
        ("rejected", "reject"),
    ],
)
def test_wrong_state_is_invalid_transition(program, confirmed_reward, state, step):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    payouts.payout_item_add(batch=batch, beneficiary="carol", actor=CREATOR)
    path = ["pending_approval", "approved", "executed"]
    for reached in path[: path.index(state) + 1] if state in path else []:
        {
            "pending_approval": lambda: payouts.payout_batch_submit(batch=batch, actor=CREATOR),
            "approved": lambda: payouts.payout_batch_approve(batch=batch, actor=APPROVER),
            "executed": lambda: payouts.payout_batch_execute(batch=batch, actor=APPROVER),
        }[reached]()
    if state == "rejected":
        payouts.payout_batch_reject(batch=batch, actor=APPROVER, reason="wrong month")
    entries = AuditEntry.objects.count()

    with pytest.raises(InvalidTransition):
        {
            "submit": lambda: payouts.payout_batch_submit(batch=batch, actor=CREATOR),
            "approve": lambda: payouts.payout_batch_approve(batch=batch, actor=APPROVER),
            "execute": lambda: payouts.payout_batch_execute(batch=batch, actor=APPROVER),
            "reject": lambda: payouts.payout_batch_reject(batch=batch, actor=APPROVER, reason="x"),
        }[step]()

    batch.refresh_from_db()
    assert batch.status == state
    assert AuditEntry.objects.count() == entries


def test_items_only_go_into_drafts_and_once_per_beneficiary(program, confirmed_reward):
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    payouts.payout_item_add(batch=batch, beneficiary="carol", amount=100, actor=CREATOR)
    with pytest.raises(AlreadyExists):
        payouts.payout_item_add(batch=batch, beneficiary="carol", amount=100, actor=CREATOR)
    payouts.payout_batch_submit(batch=batch, actor=CREATOR)
    with pytest.raises(InvalidTransition):
        payouts.payout_item_add(batch=batch, beneficiary="dave", actor=CREATOR)
    assert batch.items.count() == 1


def test_empty_batch_cannot_be_submitted(program):
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    with pytest.raises(InvalidTransition):
        payouts.payout_batch_submit(batch=batch, actor=CREATOR)


def test_reject_needs_a_reason_and_records_it(program):
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    with pytest.raises(ValidationFailed):
        payouts.payout_batch_reject(batch=batch, actor=APPROVER, reason="  ")
    rejected = payouts.payout_batch_reject(batch=batch, actor=APPROVER, reason="duplicate")
    assert rejected.status == "rejected" and rejected.rejection_reason == "duplicate"
    entry = AuditEntry.objects.get(action="payout_batch.rejected")
    assert entry.reason == "duplicate" and entry.before == {"status": "draft"}


def test_amount_above_available_is_refused(program, confirmed_reward):
    confirmed_reward("carol", 1000)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    with pytest.raises(InsufficientFunds):
        payouts.payout_item_add(batch=batch, beneficiary="carol", amount=1001, actor=CREATOR)
    with pytest.raises(NotFound):  # issue 14: no such participant, not "nothing available"
        payouts.payout_item_add(batch=batch, beneficiary="nobody", actor=CREATOR)
    assert not batch.items.exists()


def test_amount_below_min_payout_is_refused(program, confirmed_reward):
    program.min_payout = 500
    program.save(update_fields=["min_payout"])
    confirmed_reward("carol", 400)
    batch = payouts.payout_batch_create(program=program, actor=CREATOR)
    with pytest.raises(ValidationFailed):
        payouts.payout_item_add(batch=batch, beneficiary="carol", actor=CREATOR)
    confirmed_reward("carol", 400)
    with pytest.raises(ValidationFailed):
        payouts.payout_item_add(batch=batch, beneficiary="carol", amount=499, actor=CREATOR)
    assert payouts.payout_item_add(batch=batch, beneficiary="carol", actor=CREATOR).amount == 800


def test_execution_rechecks_the_balance(program, confirmed_reward, approved_batch):
    confirmed_reward("carol", 1000)
    late = confirmed_reward("carol", 500)
    batch = approved_batch({"carol": None})
    reward_reverse(reward=late, reason="fraud", actor="test")  # available drops to 1000

    with pytest.raises(InsufficientFunds):
        payouts.payout_batch_execute(batch=batch, actor=APPROVER)

    batch.refresh_from_db()
    assert batch.status == "approved" and _payout_txns(program) == 0
    assert not Reward.objects.filter(status="paid").exists()


def test_execution_rechecks_min_payout(program, confirmed_reward, approved_batch):
    confirmed_reward("carol", 1000)
    batch = approved_batch({"carol": None})
    program.min_payout = 5000
    program.save(update_fields=["min_payout"])
    with pytest.raises(ValidationFailed):
        payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    assert _payout_txns(program) == 0


def test_executing_twice_changes_nothing(program, confirmed_reward, approved_batch):
    confirmed_reward("carol", 1000)
    batch = approved_batch({"carol": None})
    first = payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    entries, txns = AuditEntry.objects.count(), Transaction.objects.count()

    again = payouts.payout_batch_execute(batch=batch, actor="user:someone_else")

    assert again.status == "executed" and again.executed_by == first.executed_by == APPROVER
    assert AuditEntry.objects.count() == entries and Transaction.objects.count() == txns


def test_crash_during_execution_leaves_nothing_and_resumes(
    program, confirmed_reward, approved_batch, monkeypatch
):
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 700)
    batch = approved_batch({"carol": None, "dave": None})
    entries = AuditEntry.objects.count()
    real = payouts.reward_transition_locked
    calls = []

    def crash_on_second_reward(**kwargs):
        calls.append(kwargs["reward"].pk)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(payouts, "reward_transition_locked", crash_on_second_reward)
    with pytest.raises(RuntimeError):
        payouts.payout_batch_execute(batch=batch, actor=APPROVER)

    batch.refresh_from_db()
    assert batch.status == "approved" and _payout_txns(program) == 0
    assert not PayoutItem.objects.filter(transaction__isnull=False).exists()
    assert AuditEntry.objects.count() == entries

    monkeypatch.setattr(payouts, "reward_transition_locked", real)
    assert payouts.payout_batch_execute(batch=batch, actor=APPROVER).status == "executed"
    assert _payout_txns(program) == 2
    assert set(Reward.objects.values_list("status", flat=True)) == {"paid"}


def test_an_item_is_never_booked_twice(program, confirmed_reward, approved_batch):
    """Even if a batch row said 'approved' again (e.g. restored from a stale copy), the
    conditional link of item → transfer refuses a second booking."""
    confirmed_reward("carol", 2000)
    batch = approved_batch({"carol": 1000})
    payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    PayoutBatch.objects.filter(pk=batch.pk).update(status="approved")

    with pytest.raises(InvalidTransition):
        payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    assert _payout_txns(program) == 1


@pytest.mark.postgres
def test_racing_double_execute_books_once(program, confirmed_reward, approved_batch):
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 700)
    batch = approved_batch({"carol": None, "dave": None})
    barrier = threading.Barrier(2)
    results: list[str] = []

    def execute(actor: str) -> None:
        try:
            barrier.wait()
            results.append(payouts.payout_batch_execute(batch=batch, actor=actor).status)
        except Exception as exc:  # recorded, asserted below
            results.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=execute, args=(a,)) for a in (CREATOR, APPROVER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == ["executed", "executed"]
    assert _payout_txns(program) == 2
    assert AuditEntry.objects.filter(action="payout_batch.executed").count() == 1
    assert Reward.objects.filter(status="paid").count() == 2


@pytest.mark.postgres
def test_two_batches_cannot_pay_the_same_balance_twice(program, confirmed_reward, approved_batch):
    """Two batches each paying carol's whole balance, executed at once: one wins, the other
    finds nothing left (locks on the balance rows; the re-check runs under them)."""
    confirmed_reward("carol", 1000)
    first, second = approved_batch({"carol": None}), approved_batch({"carol": None})
    barrier = threading.Barrier(2)
    results: list[str] = []

    def execute(batch: PayoutBatch) -> None:
        try:
            barrier.wait()
            results.append(payouts.payout_batch_execute(batch=batch, actor=APPROVER).status)
        except InsufficientFunds:
            results.append("insufficient_funds")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=execute, args=(b,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == ["executed", "insufficient_funds"]
    assert _payout_txns(program) == 1 and _available(program, "carol") == 0


def test_rewards_are_paid_oldest_first_and_only_when_covered(
    program, confirmed_reward, approved_batch
):
    old = confirmed_reward("carol", 1000)
    new = confirmed_reward("carol", 500)

    payouts.payout_batch_execute(batch=approved_batch({"carol": 700}), actor=APPROVER)
    old.refresh_from_db()
    assert old.status == "confirmed"  # 700 does not cover the oldest reward yet

    payouts.payout_batch_execute(batch=approved_batch({"carol": 300}), actor=APPROVER)
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == ("paid", "confirmed")

    payouts.payout_batch_execute(batch=approved_batch({"carol": None}), actor=APPROVER)
    new.refresh_from_db()
    assert new.status == "paid" and _available(program, "carol") == 0


def test_csv_export(program, confirmed_reward, approved_batch):
    confirmed_reward("carol", 123456)
    confirmed_reward("dave", 5)
    draft = payouts.payout_batch_create(program=program, actor=CREATOR)
    with pytest.raises(InvalidTransition):
        payouts.payout_batch_csv(batch=draft)
    batch = approved_batch({"dave": None, "carol": None})
    items = {i.beneficiary: i for i in batch.items.all()}

    lines = payouts.payout_batch_csv(batch=batch).splitlines()

    assert lines == [
        "beneficiary,amount_minor,amount,currency,reference",
        f"carol,123456,1234.56,INR,payout:{batch.pk}:{items['carol'].pk}",
        f"dave,5,0.05,INR,payout:{batch.pk}:{items['dave'].pk}",
    ]


@pytest.mark.parametrize(("currency", "exponent"), [("INR", 2), ("JPY", 0), ("KWD", 3)])
def test_currency_exponents(currency, exponent):
    assert currency_exponent(currency) == exponent


def test_demo_seed_adds_a_batch_awaiting_approval_once(program):
    from ledger.models import ReconciliationRun
    from rules.rewards.demo import seed_operations
    from rules.rewards.models import HeldReward

    seed_operations(program)
    seed_operations(program)

    batch = PayoutBatch.objects.get(program=program)
    assert batch.status == "pending_approval" and batch.items.count() == 2
    assert HeldReward.objects.filter(program=program).count() == 1
    run = ReconciliationRun.objects.get(program=program)
    assert run.status == "clean"
    # The demo user (any staff user) may approve: the seed, not a person, created it.
    assert payouts.payout_batch_approve(batch=batch, actor="user:demo").status == "approved"


@pytest.mark.django_db  # rolled back: the outbox row is enough, delivery never starts
def test_execution_announces_payout_executed(program, confirmed_reward, approved_batch):
    from config.platform.models import WebhookEndpoint, WebhookMessage

    WebhookEndpoint.objects.create(
        program=program, url="https://hooks.example/x", secret="s", events=["payout.executed"]
    )
    confirmed_reward("carol", 1000)
    batch = approved_batch({"carol": None})
    payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    message = WebhookMessage.objects.get(event_type="payout.executed")
    assert message.payload["id"] == batch.pk and message.payload["total"] == 1000
    assert message.payload["items"][0]["reference"].startswith(f"payout:{batch.pk}:")


def _statements_to_pay(program, confirmed_reward, approved_batch, rewards: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(rewards):
        confirmed_reward("carol", 100)
    batch = approved_batch({"carol": None})
    with CaptureQueriesContext(connection) as queries:
        payouts.payout_batch_execute(batch=batch, actor=APPROVER)
    assert Reward.objects.filter(program=program, status="confirmed").count() == 0
    return len(queries)


def test_each_reward_paid_costs_its_own_rows_only(program, confirmed_reward, approved_batch):
    """Marking a reward paid writes its status, history row, audit entry, outbox rows and
    coverage row; it neither locks the reward a second time (execution holds the lock) nor
    reads the program again (8 statements per reward before)."""
    one = _statements_to_pay(program, confirmed_reward, approved_batch, 1)
    four = _statements_to_pay(program, confirmed_reward, approved_batch, 4)
    assert (four - one) / 3 <= 5
