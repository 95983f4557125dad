"""Demo data for the operator console, called by `manage.py seed_demo`: a payout batch awaiting
approval, a reward held for fraud review and a reconciliation run. Safe to run again: every
piece is looked up by a fixed key first, so nothing is added twice."""

from __future__ import annotations

from config.platform.exceptions import DomainError
from config.platform.models import Program
from ledger.accounts import user_rewards_code
from ledger.models import ReconciliationRun
from ledger.selectors import account_balance
from ledger.services.reconciliation_runs import reconciliation_record
from rules.rewards.models import PayoutBatch, Reward
from rules.rewards.services import payouts
from rules.rewards.services.rewards import reward_confirm, reward_create

ACTOR = "command:seed_demo"
BATCH_DESCRIPTION = "Demo: weekly affiliate payout (approve me as another user)"
AFFILIATES = [("demo-affiliate-1", 250_000), ("demo-affiliate-2", 120_000)]


def _reward(program: Program, *, beneficiary: str, amount: int, key: str, hold: str = "") -> Reward:
    reward, _ = reward_create(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=program.currency,
        reward_type="cash",
        source_key=key,
        hold_reason=hold,
        metadata={"demo": True},
        actor=ACTOR,
    )
    return reward


def seed_operations(program: Program) -> None:
    _reward(
        program,
        beneficiary="demo-suspect",
        amount=75_000,
        key="demo:held-reward",
        hold="self_referral: same device id as the referrer",
    )
    if not PayoutBatch.objects.filter(program=program, description=BATCH_DESCRIPTION).exists():
        batch = payouts.payout_batch_create(
            program=program, actor=ACTOR, description=BATCH_DESCRIPTION
        )
        for beneficiary, amount in AFFILIATES:
            reward = _reward(
                program, beneficiary=beneficiary, amount=amount, key=f"demo:payout:{beneficiary}"
            )
            if reward.status == Reward.Status.PENDING:
                reward_confirm(reward=reward, actor=ACTOR)
            account = program.accounts.get(code=user_rewards_code(beneficiary))
            if account_balance(account)["available"] >= max(program.min_payout, 1):
                try:
                    payouts.payout_item_add(batch=batch, beneficiary=beneficiary, actor=ACTOR)
                except DomainError:  # e.g. already paid out by an earlier demo session
                    continue
        if batch.items.exists():
            payouts.payout_batch_submit(batch=batch, actor=ACTOR)
    if not ReconciliationRun.objects.filter(program=program).exists():
        reconciliation_record(program=program, actor=ACTOR)
