"""Background work of the referral money domain."""

from __future__ import annotations

from celery import shared_task

from rules.rewards.services.payout_auto import payout_schedule_run
from rules.rewards.services.payout_items import payout_batches_redispatch, payout_items_poll
from rules.rewards.services.rewards import rewards_confirm_due


@shared_task(name="ledger.confirm_due_rewards")
def confirm_due_rewards() -> int:
    """Confirm pending rewards whose program's hold_days have passed (held ones are skipped)."""
    return rewards_confirm_due()


@shared_task(name="ledger.payout_schedule")
def payout_schedule() -> int:
    """Draft this month's payout batch of every program on the monthly schedule (once)."""
    return len(payout_schedule_run())


@shared_task(name="ledger.payout_rails_sweep")
def payout_rails_sweep() -> int:
    """Provider rails: re-send items no provider answered for (same idempotency keys), then ask
    how the acknowledged ones ended (paid, failed, returned)."""
    return payout_batches_redispatch() + payout_items_poll()
