"""Background work of the referral money domain."""

from __future__ import annotations

from celery import shared_task

from rules.rewards.services.rewards import rewards_confirm_due


@shared_task(name="ledger.confirm_due_rewards")
def confirm_due_rewards() -> int:
    """Confirm pending rewards whose program's hold_days have passed (held ones are skipped)."""
    return rewards_confirm_due()
