"""What a reward's change writes besides its row: for each status it enters (created as pending,
or moved), a history row, an audit entry and an outbox event, all in the caller's database
transaction. The reward services and the one-statement booking (reward_booking) describe a
reward the same way: REWARD_EVENTS names the event, reward_event_payload is its body."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.platform.audit import audit_record
from config.platform.webhooks.services import webhook_emit
from rules.rewards.models import Reward, RewardHistory

Status = Reward.Status

# Outbox event type announced for each status a reward enters (interfaces.md, webhooks).
REWARD_EVENTS: dict[str, str] = {
    Status.PENDING: "reward.created",
    Status.CONFIRMED: "reward.confirmed",
    Status.PAID: "reward.paid",
    Status.REVERSED: "reward.reversed",
    Status.CLAWED_BACK: "reward.clawed_back",
}


def reward_event_payload(reward: Reward) -> dict[str, Any]:
    """The reward as audit entries and webhook events describe it."""
    return {
        "id": reward.pk,
        "beneficiary": reward.beneficiary,
        "amount": reward.amount,
        "currency": reward.currency,
        "reward_type": reward.reward_type,
        "status": reward.status,
        "hold_reason": reward.hold_reason,
        "metadata": reward.metadata,
        "created_at": reward.created_at,
    }


def reward_record_status(
    reward: Reward, *, before: str | None, at: datetime, actor: str, reason: str
) -> None:
    """Announce the status a reward just entered (created as pending, or moved): the history
    row, the audit entry and the outbox event (REWARD_EVENTS) all come from here, in the
    caller's database transaction."""
    RewardHistory.objects.create(
        reward=reward, status=reward.status, at=at, actor=actor, reason=reason
    )
    audit_record(
        program=reward.program,
        actor=actor,
        action=REWARD_EVENTS[reward.status],
        object_type="reward",
        object_id=reward.pk,
        before=None if before is None else {"status": before},
        after=reward_event_payload(reward),
        reason=reason,
    )
    webhook_emit(
        program=reward.program,
        event_type=REWARD_EVENTS[reward.status],
        payload=reward_event_payload(reward),
    )
