"""The referral reward lifecycle on the ledger (SPEC §4).

    pending ──confirm──▶ confirmed ──(payout)──▶ paid ──clawback──▶ clawed_back
       └──reverse──▶ reversed ◀──reverse──┘

Ledger mapping: creating books a *pending* transaction program:rewards_expense →
user:{beneficiary}:rewards; confirming posts it; reversing a pending reward voids it and a
confirmed one gets a reversal; a clawback books a posted transfer back out of the user's account
(which may go negative: the next payout nets it). Every step locks the reward row first, so two
racing confirm/reverse calls produce exactly one effect; repeating a step that already happened
is a no-op. `reward_transition` is the one place a status changes (history + audit), and
TRANSITIONS is the one status guard: every service, the admin's buttons, payouts and refunds ask
it (reward_can_become, reward_statuses_that_can_become) rather than naming statuses themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import (
    CurrencyMismatch,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from config.platform.identifiers import PARTICIPANT_ID_RE
from config.platform.models import Program
from config.platform.webhooks.services import webhook_emit
from ledger.booking import postgres
from ledger.booking.lines import PostingLine
from ledger.booking.postgres import TXN, Rider, RiderAudit, RiderEvent
from ledger.models import Account, Transaction
from ledger.services.accounts import account_get_or_create
from ledger.services.transactions import (
    transaction_create,
    transaction_post,
    transaction_reverse,
    transaction_void,
)
from rules.rewards.models import Reward, RewardHistory

Status = Reward.Status
EXPENSE_ACCOUNT = "program:rewards_expense"
AUTO_CONFIRM_ACTOR = "system:auto_confirm"

# Which status each status may move to (SPEC §4), the only status guard of the reward services.
# Payouts move confirmed → paid via reward_transition; BOOKINGS says what the others book.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.CONFIRMED, Status.REVERSED}),
    Status.CONFIRMED: frozenset({Status.PAID, Status.REVERSED}),
    Status.PAID: frozenset({Status.CLAWED_BACK}),
    Status.REVERSED: frozenset(),
    Status.CLAWED_BACK: frozenset(),
}
# Outbox event type announced for each status a reward enters (interfaces.md, webhooks).
REWARD_EVENTS: dict[str, str] = {
    Status.PENDING: "reward.created",
    Status.CONFIRMED: "reward.confirmed",
    Status.PAID: "reward.paid",
    Status.REVERSED: "reward.reversed",
    Status.CLAWED_BACK: "reward.clawed_back",
}


# How the services and messages name the step into each status.
STEP_NAMES: dict[str, str] = {
    Status.PENDING: "made pending",
    Status.CONFIRMED: "confirmed",
    Status.PAID: "paid",
    Status.REVERSED: "reversed",
    Status.CLAWED_BACK: "clawed back",
}


def reward_can_become(status: str, to_status: str) -> bool:
    """Whether TRANSITIONS lets a reward in `status` move to `to_status`."""
    return to_status in TRANSITIONS[status]


def reward_statuses_that_can_become(to_status: str) -> list[str]:
    """The statuses TRANSITIONS lets move to `to_status` (in Status order, for queries)."""
    return [status for status in Status.values if reward_can_become(status, to_status)]


def _require_transition(reward: Reward, to_status: str) -> None:
    """Refuse (409 invalid_transition) a move TRANSITIONS does not allow."""
    if reward_can_become(reward.status, to_status):
        return
    sources = " or ".join(reward_statuses_that_can_become(to_status)) or "no"
    message = (
        f"Reward {reward.pk} is {reward.status}; only a {sources} reward can be "
        f"{STEP_NAMES[to_status]}."
    )
    nexts = [STEP_NAMES[s] for s in Status.values if reward_can_become(reward.status, s)]
    if nexts:
        message += f" It can be {' or '.join(nexts)}."
    raise InvalidTransition(message)


def user_rewards_account_code(beneficiary: str) -> str:
    return f"user:{beneficiary}:rewards"


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


def reward_get(*, program: Program, reward_id: Any) -> Reward:
    try:
        pk = int(str(reward_id))
    except ValueError:
        raise NotFound(f"No reward {reward_id}.") from None
    reward = Reward.objects.filter(program=program, pk=pk).first()
    if reward is None:
        raise NotFound(f"No reward {reward_id}.")
    return reward


def _validate_new(
    *, program: Program, beneficiary: str, amount: int, currency: str, reward_type: str
) -> None:
    errors = []
    if not isinstance(beneficiary, str) or not PARTICIPANT_ID_RE.fullmatch(beneficiary):
        errors.append(
            {"field": "beneficiary", "message": "1-200 characters: letters, digits, _ . @ -"}
        )
    if type(amount) is not int or amount <= 0:
        errors.append({"field": "amount", "message": "must be a positive integer (minor units)"})
    if reward_type not in Reward.RewardType.values:
        errors.append(
            {"field": "reward_type", "message": f"one of {', '.join(Reward.RewardType.values)}"}
        )
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    if currency != program.currency:
        raise CurrencyMismatch(
            f"Reward currency {currency} differs from the program's currency {program.currency}."
        )


def reward_create(
    *,
    program: Program,
    beneficiary: str,
    amount: int,
    currency: str,
    reward_type: str,
    metadata: dict[str, Any] | None = None,
    source_key: str | None = None,
    hold_reason: str = "",
    actor: str,
) -> tuple[Reward, bool]:
    """Create a pending reward and book its pending transaction. The same `source_key` in the
    program returns the existing reward (created=False); the unique constraint makes this hold
    under races too. An amount above the program's fraud threshold puts the reward on hold."""
    _validate_new(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=currency,
        reward_type=reward_type,
    )
    threshold = program.fraud_amount_threshold
    if not hold_reason and threshold is not None and amount > threshold:
        hold_reason = f"amount {amount} is above the fraud review threshold {threshold}"
    new = Reward(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=currency,
        reward_type=reward_type,
        metadata=metadata or {},
        source_key=source_key or None,
        hold_reason=hold_reason,
    )
    try:
        if postgres.in_use():
            return _create_in_one_statement(new, actor=actor), True
        return _create(new, actor=actor), True
    except (IntegrityError, _Duplicate):
        if source_key:
            existing = Reward.objects.filter(program=program, source_key=source_key).first()
            if existing is not None:  # created earlier, or concurrently, from the same source
                return existing, False
        raise


# reward_create's rows as CTEs of the booking statement (see _create_in_one_statement): the
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


class _Duplicate(Exception):
    """The program already has a reward with this source_key."""


def _booking_lines(reward: Reward, user_account: Account) -> list[PostingLine]:
    return [
        PostingLine(EXPENSE_ACCOUNT, "debit", reward.amount),
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


def _create(reward: Reward, *, actor: str) -> Reward:
    """Portable: the booking, then the reward row, its history, audit entry and outbox rows."""
    if (
        reward.source_key
        and Reward.objects.filter(program=reward.program, source_key=reward.source_key).exists()
    ):
        raise _Duplicate
    with transaction.atomic():
        user_account = account_get_or_create(
            program=reward.program,
            code=user_rewards_account_code(reward.beneficiary),
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
        _record_status(
            reward, before=None, at=reward.created_at, actor=actor, reason=reward.hold_reason
        )
    return reward


def _create_in_one_statement(reward: Reward, *, actor: str) -> Reward:
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
                refusal=_Duplicate(),
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
        code=user_rewards_account_code(reward.beneficiary),
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


def reward_transition(*, reward: Reward, to_status: str, actor: str, reason: str = "") -> Reward:
    """The single place a reward's status changes: status and timestamps, then `_record_status`
    (history row, audit entry, outbox event), in the caller's database transaction. No ledger
    work (callers book it)."""
    with transaction.atomic():
        return reward_transition_locked(
            reward=_lock(reward), to_status=to_status, actor=actor, reason=reason
        )


def reward_transition_locked(
    *, reward: Reward, to_status: str, actor: str, reason: str = ""
) -> Reward:
    """reward_transition for a reward whose row the caller has locked in its open transaction
    (select_for_update), as the other reward services and payout execution have: the row is
    not read and locked a second time. Payouts call it to mark rewards paid."""
    before = reward.status
    _require_transition(reward, to_status)
    now = timezone.now()
    reward.status = to_status
    reward.updated_at = now
    fields = ["status", "updated_at"]
    if to_status == Status.CONFIRMED:
        reward.confirmed_at = now
        fields.append("confirmed_at")
    elif to_status == Status.PAID:
        reward.paid_at = now
        fields.append("paid_at")
    reward.save(update_fields=fields)
    _record_status(reward, before=before, at=now, actor=actor, reason=reason)
    return reward


def _record_status(
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


def _lock(reward: Reward) -> Reward:
    """Lock the reward row (only it: the joined rows are read, not locked)."""
    return (
        Reward.objects.select_for_update(of=("self",))
        .select_related("program", "transaction")
        .get(pk=reward.pk)
    )


def _booking(reward: Reward) -> Transaction:
    if reward.transaction is None:  # every reward made by reward_create has one
        raise InvalidTransition(f"Reward {reward.pk} has no ledger transaction to move.")
    return reward.transaction


def _book_post(reward: Reward, *, actor: str, reason: str) -> None:
    transaction_post(program=reward.program, pending=_booking(reward), actor=actor, audit=False)


def _book_void(reward: Reward, *, actor: str, reason: str) -> None:
    transaction_void(
        program=reward.program, pending=_booking(reward), actor=actor, reason=reason, audit=False
    )


def _book_reversal(reward: Reward, *, actor: str, reason: str) -> None:
    transaction_reverse(
        program=reward.program, original=_booking(reward), reason=reason, actor=actor, audit=False
    )


def _book_clawback(reward: Reward, *, actor: str, reason: str) -> None:
    """A posted transfer user:{beneficiary}:rewards → program:rewards_expense."""
    reward.clawback_transaction = transaction_create(
        program=reward.program,
        postings=[
            PostingLine(user_rewards_account_code(reward.beneficiary), "debit", reward.amount),
            PostingLine(EXPENSE_ACCOUNT, "credit", reward.amount),
        ],
        description=f"Clawback of reward {reward.pk}: {reason}",
        metadata={"reward": reward.pk, "reason": reason},
        reference=f"clawback:reward:{reward.pk}",
        actor=actor,
        audit=False,
    )
    reward.save(update_fields=["clawback_transaction"])


# What each move of TRANSITIONS books on the ledger, except confirmed → paid (payout execution
# books the transfer). A move the table allows with nothing here is a programming error (500),
# never a silent refusal: tests/ledger/test_transitions.py walks every pair.
BOOKINGS: dict[tuple[str, str], Callable[..., None]] = {
    (Status.PENDING, Status.CONFIRMED): _book_post,
    (Status.PENDING, Status.REVERSED): _book_void,
    (Status.CONFIRMED, Status.REVERSED): _book_reversal,
    (Status.PAID, Status.CLAWED_BACK): _book_clawback,
}


def _step(
    *,
    reward: Reward,
    to_status: str,
    actor: str,
    reason: str,
    precondition: Callable[[Reward], None] | None = None,
) -> tuple[Reward, bool]:
    """Move the reward to `to_status` with its booking, under the reward's row lock. A reward
    already there is returned unchanged (changed=False: SPEC §4's repeat, no second effect);
    TRANSITIONS decides every other case."""
    with transaction.atomic():
        locked = _lock(reward)
        if locked.status == to_status:
            return locked, False
        _require_transition(locked, to_status)
        if precondition is not None:
            precondition(locked)
        book = BOOKINGS.get((locked.status, to_status))
        if book is None:
            raise LookupError(
                f"TRANSITIONS allows {locked.status} → {to_status} but BOOKINGS has no booking "
                "for it."
            )
        book(locked, actor=actor, reason=reason)
        moved = reward_transition_locked(
            reward=locked, to_status=to_status, actor=actor, reason=reason
        )
        return moved, True


def _not_held(reward: Reward) -> None:
    if reward.hold_reason:
        raise InvalidTransition(
            f"Reward {reward.pk} is held for review ({reward.hold_reason}); release it first."
        )


def _confirm(*, reward: Reward, actor: str, reason: str) -> tuple[Reward, bool]:
    return _step(
        reward=reward,
        to_status=Status.CONFIRMED,
        actor=actor,
        reason=reason,
        precondition=_not_held,
    )


def reward_confirm(*, reward: Reward, actor: str, reason: str = "") -> Reward:
    """Post the reward's pending transaction. Confirming a confirmed reward changes nothing; a
    reward on hold must be released (reward_release) first."""
    return _confirm(reward=reward, actor=actor, reason=reason)[0]


def _require_reason(reason: str, step: str) -> None:
    if not reason or not reason.strip():
        raise ValidationFailed(
            f"A reason is required to {step} a reward.",
            errors=[{"field": "reason", "message": "This field is required."}],
        )


def reward_reverse(*, reward: Reward, reason: str, actor: str) -> Reward:
    """Void a pending reward's transaction, or book a reversal of a confirmed one. Reversing a
    reversed reward changes nothing; a paid reward is clawed back instead."""
    _require_reason(reason, "reverse")
    return _step(reward=reward, to_status=Status.REVERSED, actor=actor, reason=reason)[0]


def reward_clawback(*, reward: Reward, reason: str, actor: str) -> Reward:
    """Take a paid reward back: a posted transfer user:{beneficiary}:rewards →
    program:rewards_expense. The user's balance may go negative; the next payout nets it."""
    _require_reason(reason, "claw back")
    return _step(reward=reward, to_status=Status.CLAWED_BACK, actor=actor, reason=reason)[0]


def reward_release(*, reward: Reward, reason: str, actor: str) -> Reward:
    """End a fraud hold: the reward can then be confirmed (by hand or automatically)."""
    with transaction.atomic():
        locked = _lock(reward)
        if not locked.hold_reason:
            return locked
        before = locked.hold_reason
        now = timezone.now()
        locked.hold_reason = ""
        locked.updated_at = now
        locked.save(update_fields=["hold_reason", "updated_at"])
        # The reward's history is where people look for why it moved on: the release and its
        # reason go there too (the status stays pending; the hold is what ended).
        released = f"Hold released ({before})"
        RewardHistory.objects.create(
            reward=locked,
            status=locked.status,
            at=now,
            actor=actor,
            reason=f"{released}: {reason}" if reason and reason.strip() else released,
        )
        audit_record(
            program=locked.program,
            actor=actor,
            action="reward.released",
            object_type="reward",
            object_id=locked.pk,
            before={"hold_reason": before},
            after={"hold_reason": ""},
            reason=reason,
        )
    return locked


def rewards_confirm_due(*, now: datetime | None = None) -> int:
    """Confirm pending rewards older than their program's `hold_days` (held ones are skipped).
    Returns how many were confirmed. Each reward is confirmed in its own transaction, so one
    failure does not undo the rest and a concurrent reverse simply wins."""
    now = now or timezone.now()
    confirmed = 0
    for program in Program.objects.filter(hold_days__gt=0):
        due = Reward.objects.filter(
            program=program,
            status__in=reward_statuses_that_can_become(Status.CONFIRMED),
            hold_reason="",
            created_at__lte=now - timedelta(days=program.hold_days),
        ).order_by("created_at", "pk")
        for pk in list(due.values_list("pk", flat=True)):
            try:
                _, changed = _confirm(
                    reward=Reward(pk=pk),
                    actor=AUTO_CONFIRM_ACTOR,
                    reason=f"pending for {program.hold_days} days",
                )
            except InvalidTransition:  # reversed or put on hold meanwhile
                continue
            confirmed += changed
    return confirmed
