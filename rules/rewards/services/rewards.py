"""The referral reward lifecycle on the ledger (SPEC §4).

    pending ──confirm──▶ confirmed ──(payout)──▶ paid ──clawback──▶ clawed_back
       └──reverse──▶ reversed ◀──reverse──┘

Ledger mapping: creating books a *pending* transaction program:rewards_expense →
user:{beneficiary}:rewards; confirming posts it; reversing a pending reward voids it and a
confirmed one gets a reversal; a clawback books a posted transfer back out of the user's account
(which may go negative: the next payout nets it). Every step locks the reward row first, so two
racing confirm/reverse calls produce exactly one effect; repeating a step that already happened
is a no-op. reward_booking books a new reward; reward_records writes what each status a reward
enters leaves behind (history, audit, outbox). `reward_transition` is the one place a status
changes, and
TRANSITIONS is the one status guard: every service, the admin's buttons, payouts and refunds ask
it (reward_can_become, reward_statuses_that_can_become) rather than naming statuses themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import CurrencyMismatch, InvalidTransition, ValidationFailed
from config.platform.identifiers import PARTICIPANT_ID_RE
from config.platform.models import Program
from config.platform.notifications import notification_emit
from ledger.accounts import REWARDS_EXPENSE, user_rewards_code
from ledger.booking.lines import PostingLine
from ledger.models import Transaction
from ledger.services.transactions import (
    transaction_create,
    transaction_post,
    transaction_reverse,
    transaction_void,
)
from rules.rewards.models import Reward, RewardHistory
from rules.rewards.services.reward_booking import RewardDuplicate, reward_book
from rules.rewards.services.reward_records import reward_record_status

Status = Reward.Status
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


def reward_new_fields(
    *,
    program: Program,
    beneficiary: str,
    amount: int,
    currency: str,
    reward_type: str,
    hold_reason: str = "",
) -> str:
    """Check a new reward's fields as reward_create does (ValidationFailed, CurrencyMismatch);
    returns its hold reason: the one given, or the program's fraud threshold's."""
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
    return hold_reason


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
    hold_reason = reward_new_fields(
        program=program,
        beneficiary=beneficiary,
        amount=amount,
        currency=currency,
        reward_type=reward_type,
        hold_reason=hold_reason,
    )
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
        return reward_book(new, actor=actor), True
    except (IntegrityError, RewardDuplicate):
        if source_key:
            existing = Reward.objects.filter(program=program, source_key=source_key).first()
            if existing is not None:  # created earlier, or concurrently, from the same source
                return existing, False
        raise


def reward_transition(*, reward: Reward, to_status: str, actor: str, reason: str = "") -> Reward:
    """The single place a reward's status changes: status and timestamps, then
    `reward_record_status` (history row, audit entry, outbox event), in the caller's database
    transaction. No ledger work (callers book it)."""
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
    reward_record_status(reward, before=before, at=now, actor=actor, reason=reason)
    return reward


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
            PostingLine(user_rewards_code(reward.beneficiary), "debit", reward.amount),
            PostingLine(REWARDS_EXPENSE, "credit", reward.amount),
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
    moved_hook: Callable[[Reward], None] | None = None,
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
        if moved_hook is not None:
            moved_hook(moved)
        return moved, True


def _not_held(reward: Reward) -> None:
    if reward.hold_reason:
        raise InvalidTransition(
            f"Reward {reward.pk} is held for review ({reward.hold_reason}); release it first."
        )


def _notify_confirmed(reward: Reward) -> None:
    # In the confirmation's transaction, so only a confirmation that happened tells the partner
    # (builder/portal: an email outbox row, sent after commit). The money domain names
    # participants by external id (`beneficiary`).
    notification_emit(
        "reward.confirmed",
        program_id=reward.program_id,
        beneficiary=reward.beneficiary,
        data={
            "reward": reward.pk,
            "beneficiary": reward.beneficiary,
            "amount": reward.amount,
            "currency": reward.currency,
        },
    )


def _confirm(*, reward: Reward, actor: str, reason: str) -> tuple[Reward, bool]:
    return _step(
        reward=reward,
        to_status=Status.CONFIRMED,
        actor=actor,
        reason=reason,
        precondition=_not_held,
        moved_hook=_notify_confirmed,
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
