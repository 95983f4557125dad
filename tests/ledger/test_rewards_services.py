"""Reward services (rules/rewards/services/rewards.py): lifecycle, auto-confirmation and races."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from config.platform.exceptions import CurrencyMismatch, InvalidTransition, ValidationFailed
from ledger import selectors
from ledger.models import Account, Transaction
from rules.rewards.models import Reward, RewardHistory
from rules.rewards.services.programs import program_create
from rules.rewards.services.rewards import (
    reward_confirm,
    reward_create,
    reward_release,
    reward_reverse,
    reward_transition,
    rewards_confirm_due,
)

pytestmark = pytest.mark.django_db(transaction=True)


def new_reward(program, *, beneficiary="alice", amount=1000, **kwargs):
    reward, created = reward_create(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=program.currency,
        reward_type="cash",
        actor="test",
        **kwargs,
    )
    assert created
    return reward


def user_account(program, beneficiary="alice"):
    account = Account.objects.get(program=program, code=f"user:{beneficiary}:rewards")
    return selectors.account_balance(account)


def run_threads(n, fn):
    """Run fn(i) in n real threads started together; returns results (value or exception)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_create_validates_like_the_api(program):
    cases: list[dict[str, Any]] = [
        {"amount": 10.0},
        {"amount": "10"},
        {"amount": 0},
        {"reward_type": "gold"},
        {"beneficiary": "a:b"},
        # `$` matches before a final newline: the id must match whole, or "alice\n" gets paid
        # into an account nobody can name.
        {"beneficiary": "alice\n"},
    ]
    for case in cases:
        kwargs = {"beneficiary": "alice", "amount": 10, "reward_type": "cash", **case}
        with pytest.raises(ValidationFailed):
            reward_create(program=program, currency="INR", actor="t", **kwargs)
    with pytest.raises(CurrencyMismatch):
        reward_create(
            program=program,
            beneficiary="alice",
            amount=10,
            currency="EUR",
            reward_type="cash",
            actor="t",
        )
    assert not Reward.objects.exists() and not Transaction.objects.exists()


def test_same_source_key_returns_the_existing_reward(program):
    first = new_reward(program, source_key="event:1:rule:2:0")
    again, created = reward_create(
        program=program,
        beneficiary="alice",
        amount=1000,
        currency="INR",
        reward_type="cash",
        source_key="event:1:rule:2:0",
        actor="test",
    )
    assert not created and again.pk == first.pk
    assert Transaction.objects.count() == 1


@pytest.mark.postgres
def test_racing_creates_with_one_source_key_make_one_reward(program):
    def create(i):
        return reward_create(
            program=program,
            beneficiary="alice",
            amount=1000,
            currency="INR",
            reward_type="cash",
            source_key="event:race",
            actor=f"thread:{i}",
        )

    results = run_threads(10, create)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(created for _, created in results) == 1
    assert len({reward.pk for reward, _ in results}) == 1
    assert Reward.objects.count() == 1 and Transaction.objects.count() == 1
    assert user_account(program)["pending"]["credits"] == 1000


@pytest.mark.postgres
def test_twenty_racing_confirms_post_once(program):
    reward = new_reward(program)
    results = run_threads(20, lambda i: reward_confirm(reward=reward, actor=f"thread:{i}"))
    assert all(isinstance(r, Reward) and r.status == "confirmed" for r in results), results
    assert Transaction.objects.filter(kind="post").count() == 1
    assert RewardHistory.objects.filter(reward=reward, status="confirmed").count() == 1
    assert user_account(program)["posted"]["balance"] == 1000


@pytest.mark.postgres
def test_twenty_racing_reversals_of_a_confirmed_reward_reverse_once(program):
    reward = reward_confirm(reward=new_reward(program), actor="test")
    results = run_threads(
        20, lambda i: reward_reverse(reward=reward, reason="refund", actor=f"thread:{i}")
    )
    assert all(isinstance(r, Reward) and r.status == "reversed" for r in results), results
    assert Transaction.objects.filter(kind="reversal").count() == 1
    assert RewardHistory.objects.filter(reward=reward, status="reversed").count() == 1
    assert user_account(program)["posted"]["balance"] == 0


@pytest.mark.postgres
def test_racing_confirms_and_reversals_leave_ledger_and_status_in_step(program):
    reward = new_reward(program)

    def act(i):
        if i % 2:
            return reward_confirm(reward=reward, actor=f"thread:{i}")
        return reward_reverse(reward=reward, reason="race", actor=f"thread:{i}")

    results = run_threads(20, act)
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, InvalidTransition) for e in errors), errors
    reward.refresh_from_db()
    assert reward.status == "reversed"  # every reverse either voids or reverses the post
    kinds = Counter(Transaction.objects.values_list("kind", flat=True))
    history = Counter(reward.history.values_list("status", flat=True))
    assert history["pending"] == history["reversed"] == 1 and history["confirmed"] <= 1
    if history["confirmed"]:
        assert kinds == {"pending": 1, "post": 1, "reversal": 1}
    else:
        assert kinds == {"pending": 1, "void": 1}
        assert len(errors) == 10  # every confirm came after the void
    balance = user_account(program)
    assert balance["posted"]["balance"] == 0 and balance["pending"]["balance"] == 0


def test_transition_refuses_steps_the_state_machine_forbids(program):
    reward = new_reward(program)
    for target in ["paid", "clawed_back", "pending"]:
        with pytest.raises(InvalidTransition):
            reward_transition(reward=reward, to_status=target, actor="test")
    reward.refresh_from_db()
    assert reward.status == "pending" and reward.history.count() == 1


def test_transition_to_paid_records_time_history_and_audit(program):
    reward = reward_confirm(reward=new_reward(program), actor="test")
    paid = reward_transition(reward=reward, to_status="paid", actor="payouts", reason="batch 7")
    assert paid.status == "paid" and paid.paid_at is not None
    last = paid.history.last()
    assert last is not None
    assert (last.status, last.actor, last.reason) == ("paid", "payouts", "batch 7")


def test_confirm_due_confirms_old_unheld_rewards_once(program):
    program.hold_days = 3
    program.save(update_fields=["hold_days"])
    old = new_reward(program)
    held = new_reward(program, hold_reason="manual review")
    reversed_ = reward_reverse(reward=new_reward(program), reason="fraud", actor="test")
    other, _ = program_create(slug="nohold", name="No hold", currency="INR")
    untouched = new_reward(other)

    now = timezone.now()
    assert rewards_confirm_due(now=now + timedelta(days=3) - timedelta(minutes=1)) == 0
    assert rewards_confirm_due(now=now + timedelta(days=3, minutes=1)) == 1
    assert rewards_confirm_due(now=now + timedelta(days=3, minutes=1)) == 0

    statuses = dict(Reward.objects.values_list("pk", "status"))
    assert statuses == {
        old.pk: "confirmed",
        held.pk: "pending",
        reversed_.pk: "reversed",
        untouched.pk: "pending",
    }
    last = Reward.objects.get(pk=old.pk).history.last()
    assert last is not None and last.actor == "system:auto_confirm"

    reward_release(reward=held, reason="ok", actor="reviewer")
    assert rewards_confirm_due(now=now + timedelta(days=4)) == 1


def test_confirm_due_command_and_task(program, capsys):
    from rules.rewards.tasks import confirm_due_rewards

    program.hold_days = 1
    program.save(update_fields=["hold_days"])
    reward = new_reward(program)
    Reward.objects.filter(pk=reward.pk).update(created_at=timezone.now() - timedelta(days=2))
    call_command("confirm_due_rewards")
    assert "Confirmed 1 reward(s)." in capsys.readouterr().out
    assert Reward.objects.get(pk=reward.pk).status == "confirmed"
    assert confirm_due_rewards() == 0  # the Celery task body, run inline


def test_clawback_only_from_paid(program):
    from rules.rewards.services.rewards import reward_clawback

    reward = new_reward(program)
    with pytest.raises(InvalidTransition):
        reward_clawback(reward=reward, reason="refund", actor="test")
    with pytest.raises(ValidationFailed):
        reward_reverse(reward=reward, reason=" ", actor="test")
    assert Transaction.objects.count() == 1


@pytest.mark.postgres  # SQLite has no row locks: Django drops FOR UPDATE there
@pytest.mark.parametrize("step", ["confirm", "reverse"])
def test_a_step_locks_the_reward_once(program, step):
    from django.test.utils import CaptureQueriesContext

    reward = new_reward(program)
    with CaptureQueriesContext(connection) as queries:
        if step == "confirm":
            reward_confirm(reward=reward, actor="test")
        else:
            reward_reverse(reward=reward, actor="test", reason="fraud")
    locks = [
        q["sql"] for q in queries if "FOR UPDATE" in q["sql"] and '"ledger_reward"' in q["sql"]
    ]
    assert len(locks) == 1, locks
