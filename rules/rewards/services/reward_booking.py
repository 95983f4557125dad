"""How a new reward is booked (reward_create's effect): its pending transaction
program:rewards_expense → user:{beneficiary}:rewards, the reward row, its history row, audit
entry and outbox event. Two paths write the same rows: a portable one (ORM, one statement per
row) and, on PostgreSQL, one statement in which the reward's rows ride the booking
(ledger.booking.postgres); tests/ledger/test_reward_statement.py checks they agree."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from ledger.accounts import REWARDS_EXPENSE, user_rewards_code
from ledger.booking import postgres
from ledger.booking.lines import PostingLine
from ledger.booking.postgres import TXN, Rider, RiderAudit, RiderEvent
from ledger.models import Account, Transaction
from ledger.services.accounts import account_get_or_create
from ledger.services.transactions import transaction_create
from rules.rewards.models import Reward
from rules.rewards.services.reward_records import (
    REWARD_EVENTS,
    reward_event_payload,
    reward_record_status,
)

Status = Reward.Status


def reward_book(reward: Reward, *, actor: str) -> Reward:
    """Book the new (unsaved, validated) reward and save it with its rows. A source_key the
    program already has raises RewardDuplicate (or IntegrityError, when a concurrent booking
    wins the race)."""
    if postgres.in_use():
        return _book_in_one_statement(reward, actor=actor)
    return _book_portable(reward, actor=actor)


# reward_create's rows as CTEs of the booking statement (see _book_in_one_statement): the
# reward, its payload (reward_event_payload, with the id the insert generated) and history row,
# each selecting from the transaction row (TXN); the audit entry and outbox rows read `created`.
_REWARD_CTES = [
    (
        "reward",
        "INSERT INTO ledger_reward (program_id, beneficiary, amount, currency, reward_type,"
        " status, metadata, transaction_id, source_key, hold_reason, created_at, updated_at)"
        f" SELECT {TXN}.program_id, %s, %s, %s, %s, '{Status.PENDING.value}', %s::jsonb,"
        f" {TXN}.id, %s, %s, {TXN}.created_at, {TXN}.created_at FROM {TXN}"
        " RETURNING id, status, hold_reason",
    ),
    ("created", "SELECT id, %s::jsonb || jsonb_build_object('id', id) AS payload FROM reward"),
    (
        "history",
        "INSERT INTO ledger_rewardhistory (reward_id, status, at, actor, reason)"
        f" SELECT r.id, r.status, {TXN}.created_at, %s, r.hold_reason FROM reward r, {TXN}",
    ),
]


class RewardDuplicate(Exception):
    """The program already has a reward with this source_key."""


def _booking_lines(reward: Reward, user_account: Account) -> list[PostingLine]:
    return [
        PostingLine(REWARDS_EXPENSE, "debit", reward.amount),
        PostingLine(user_account, "credit", reward.amount),
    ]


def _booking_details(reward: Reward, actor: str) -> dict[str, Any]:
    return {
        "pending": True,
        "description": f"{reward.reward_type} reward for {reward.beneficiary}",
        "metadata": {"reward_type": reward.reward_type},
        "reference": f"reward:{reward.source_key}" if reward.source_key else "reward",
        "actor": actor,
        "audit": False,
    }


def _book_portable(reward: Reward, *, actor: str) -> Reward:
    """Portable: the booking, then the reward row, its history, audit entry and outbox rows."""
    if (
        reward.source_key
        and Reward.objects.filter(program=reward.program, source_key=reward.source_key).exists()
    ):
        raise RewardDuplicate
    with transaction.atomic():
        user_account = account_get_or_create(
            program=reward.program,
            code=user_rewards_code(reward.beneficiary),
            kind=Account.Kind.LIABILITY,
        )
        # Booked before the reward row so the row is inserted once, complete; a duplicate
        # source_key then rolls the booking back with it.
        txn = transaction_create(
            program=reward.program,
            postings=_booking_lines(reward, user_account),
            **_booking_details(reward, actor),
        )
        reward.transaction = txn
        reward.created_at = reward.updated_at = txn.created_at
        reward.save(force_insert=True)
        reward_record_status(
            reward, before=None, at=reward.created_at, actor=actor, reason=reward.hold_reason
        )
    return reward


def _book_in_one_statement(reward: Reward, *, actor: str) -> Reward:
    """PostgreSQL: the reward row, its history row, audit entry and outbox rows ride in the
    booking's statement (a ledger.booking.postgres Rider), and a guard in it refuses a known
    source_key. One statement is atomic on its own: outside a transaction block it commits by
    itself, so a reward costs one round trip (plus opening the user's account the first
    time)."""
    program = reward.program
    event = REWARD_EVENTS[Status.PENDING]
    built: list[Rider] = []  # the rider of the (last) booking attempt

    def rider(txn: Transaction) -> Rider:
        reward.transaction = txn
        reward.created_at = reward.updated_at = txn.created_at
        # The payload as reward_event_payload has it; the id the statement generates is merged
        # in by SQL (jsonb keys have no order, so the stored value is the same).
        payload = json.dumps(reward_event_payload(reward), cls=DjangoJSONEncoder)
        guard, guard_params = "TRUE", []
        if reward.source_key:
            guard = (
                "NOT EXISTS (SELECT 1 FROM ledger_reward WHERE program_id = %s AND source_key = %s)"
            )
            guard_params = [program.pk, reward.source_key]
        built[:] = [
            Rider(
                ctes=_REWARD_CTES,
                params=[
                    reward.beneficiary,
                    reward.amount,
                    reward.currency,
                    reward.reward_type,
                    json.dumps(reward.metadata),
                    reward.source_key,
                    reward.hold_reason,
                    payload,
                    actor,
                ],
                outputs=["(SELECT id FROM reward)"],
                guard=guard,
                guard_params=guard_params,
                refusal=RewardDuplicate(),
                audit=RiderAudit(
                    source="created",
                    actor=actor,
                    action=event,
                    object_type="reward",
                    object_id_sql="created.id::text",
                    after_sql="created.payload",
                    reason=reward.hold_reason,
                ),
                event=RiderEvent(source="created", event_type=event, payload_sql="created.payload"),
            )
        ]
        return built[0]

    user_account = account_get_or_create(
        program=program,
        code=user_rewards_code(reward.beneficiary),
        kind=Account.Kind.LIABILITY,
    )
    # Inside a caller's transaction a savepoint keeps a lost source_key race (a unique
    # violation) from aborting the caller's work; without a source_key there is no such race.
    block = transaction.atomic() if reward.source_key and connection.in_atomic_block else None
    with block or nullcontext():
        transaction_create(
            program=program,
            postings=_booking_lines(reward, user_account),
            rider=rider,
            **_booking_details(reward, actor),
        )
    (reward.pk,) = built[0].result
    reward._state.adding, reward._state.db = False, connection.alias
    return reward
