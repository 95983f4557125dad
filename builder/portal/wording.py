"""What the portal says, in plain words: reward and payout statuses, money, masked ids."""

from __future__ import annotations

from datetime import timedelta

from config.platform.models import Program
from rules.rewards.models import PayoutBatch, Reward

REWARD_STATUS = {
    Reward.Status.PENDING: "Pending",
    Reward.Status.CONFIRMED: "Confirmed",
    Reward.Status.PAID: "Paid",
    Reward.Status.REVERSED: "Cancelled",
    Reward.Status.CLAWED_BACK: "Taken back",
}


def reward_status(reward: Reward) -> str:
    if reward.status == Reward.Status.PENDING and reward.hold_reason:
        return "On hold"
    return REWARD_STATUS.get(Reward.Status(reward.status), reward.status)


def reward_explanation(reward: Reward, program: Program) -> str:
    """Why a reward is where it is. A hold's own reason is the program's fraud signal (it may
    name another person's data), so a partner is told only that it is checked by hand."""
    status = reward.status
    if status == Reward.Status.PENDING and reward.hold_reason:
        return (
            "On hold for review: the program checks some rewards by hand before confirming "
            "them. You don't need to do anything; it will be confirmed or cancelled after the "
            "check."
        )
    if status == Reward.Status.PENDING:
        if program.hold_days:
            due = reward.created_at + timedelta(days=program.hold_days)
            return (
                f"Pending: rewards wait {program.hold_days} days in case the purchase is "
                f"refunded. This one should be confirmed on {due:%d %b %Y}."
            )
        return "Pending: the program confirms it once the purchase can no longer be refunded."
    if status == Reward.Status.CONFIRMED:
        return "Confirmed: it counts toward your available balance and will be in a payout."
    if status == Reward.Status.PAID:
        when = f" on {reward.paid_at:%d %b %Y}" if reward.paid_at else ""
        return f"Paid{when}."
    if status == Reward.Status.REVERSED:
        return (
            "Cancelled: the purchase or signup it was for was refunded or did not count, "
            "so it was never added to your balance."
        )
    if status == Reward.Status.CLAWED_BACK:
        return (
            "Taken back: it was paid, then the purchase was refunded, so the amount was "
            "taken off your balance."
        )
    return ""


BATCH_STATUS = {
    PayoutBatch.Status.DRAFT: "Being prepared",
    PayoutBatch.Status.PENDING_APPROVAL: "Waiting for approval",
    PayoutBatch.Status.APPROVED: "Approved, about to be sent",
    PayoutBatch.Status.EXECUTED: "Sent",
    PayoutBatch.Status.REJECTED: "Not sent (the payout was cancelled; the money stays in your "
    "balance)",
}


def batch_status(batch: PayoutBatch) -> str:
    return BATCH_STATUS.get(PayoutBatch.Status(batch.status), batch.status)


def mask(external_id: str) -> str:
    """An id shown without giving it away: its first two and last two characters."""
    if len(external_id) <= 4:
        return external_id[:1] + "•" * (len(external_id) - 1)
    return f"{external_id[:2]}{'•' * min(6, len(external_id) - 4)}{external_id[-2:]}"
