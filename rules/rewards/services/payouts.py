"""Payout batches with two-person control (SPEC §7). The API and the admin both call these.

    draft ──submit──▶ pending_approval ──approve──▶ approved ──execute──▶ executed
      └────────────────────┴──────reject─────────────┘──▶ rejected

Locks are always taken in one order — batch row, then the beneficiaries' confirmed rewards,
then account balance rows by account id (the order `_apply_balances` uses) — so a payout never
deadlocks with a concurrent confirm, reverse or clawback of the same user's rewards.

Execution is one database transaction: every item's transfer is booked, the covered rewards
are marked paid and the batch becomes executed, or (on any error or a crash) nothing is. Each
item's transfer carries a deterministic reference (``payout:{batch}:{item}``) and is linked to
the item by a conditional update of a unique column, so a resumed or racing execution can never
book an item twice.

Rails (SPEC §13, rules/rewards/rails): execution also marks every item `sent`, tells the
partner (notification "payout.sent") and hands the items to the batch's rail. A local rail
(`csv`, `external`: no network) runs inside that same transaction. A provider rail (`paypal`,
`stripe_connect`) is called only after the commit (payout_items.payout_batch_dispatch), with each
item's deterministic idempotency key: a crash between the provider's answer and our record of it
leaves the item `sent` without a `provider_ref`, and executing the batch again (allowed: it is
how an operator retries) asks the provider again with the same keys and gets the same payouts.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import (
    AlreadyExists,
    FourEyesViolation,
    InsufficientFunds,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from config.platform.identifiers import PARTICIPANT_ID_RE
from config.platform.models import Program
from config.platform.webhooks.services import webhook_emit
from ledger.accounts import PAYOUTS_CLEARING, user_rewards_code
from ledger.booking.lines import PostingLine
from ledger.models import Account, AccountBalance
from ledger.selectors import account_balance
from ledger.services.transactions import transaction_create
from rules.rewards.models import PayoutBatch, PayoutCoverage, PayoutItem, PayoutMethod, Reward
from rules.rewards.participants import participant_pk
from rules.rewards.payout_selectors import payout_methods_of
from rules.rewards.rails import csv as csv_rail
from rules.rewards.rails.base import UnknownRail, rail_get
from rules.rewards.selectors import reward_balance_available
from rules.rewards.services import payout_items
from rules.rewards.services.rewards import (
    reward_statuses_that_can_become,
    reward_transition_locked,
)

Status = PayoutBatch.Status

# Which status each batch status may move to (the diagram above): the only status guard of the
# batch steps. Items are added while the batch can still be submitted (a draft).
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.DRAFT: frozenset({Status.PENDING_APPROVAL, Status.REJECTED}),
    Status.PENDING_APPROVAL: frozenset({Status.APPROVED, Status.REJECTED}),
    Status.APPROVED: frozenset({Status.EXECUTED, Status.REJECTED}),
    Status.EXECUTED: frozenset(),
    Status.REJECTED: frozenset(),
}


def _batch_state(batch: PayoutBatch) -> dict[str, Any]:
    return {"status": batch.status, "items": batch.items.count(), "total": batch_total(batch)}


def batch_total(batch: PayoutBatch) -> int:
    return batch.items.aggregate(total=Sum("amount"))["total"] or 0


def _lock(batch: PayoutBatch) -> PayoutBatch:
    return PayoutBatch.objects.select_for_update().select_related("program").get(pk=batch.pk)


def _require_move(batch: PayoutBatch, to_status: str, *, step: str) -> None:
    """Refuse (409 invalid_transition) a step whose move BATCH_TRANSITIONS does not allow."""
    if to_status not in BATCH_TRANSITIONS[batch.status]:
        raise InvalidTransition(f"Payout batch {batch.pk} is {batch.status}; it cannot be {step}.")


def _check_amount(program: Program, beneficiary: str, amount: int, available: int) -> None:
    if amount > available:
        raise InsufficientFunds(
            f"{beneficiary} has {max(available, 0)} {program.currency} available "
            f"(minor units); {amount} cannot be paid."
        )
    if amount < program.min_payout:
        raise ValidationFailed(
            f"{amount} is below the program's minimum payout of {program.min_payout} "
            f"{program.currency} (minor units).",
            errors=[{"field": "amount", "message": f"at least {program.min_payout}"}],
        )


def _audit(batch: PayoutBatch, *, actor: str, action: str, before: str, reason: str = "") -> None:
    audit_record(
        program=batch.program,
        actor=actor,
        action=action,
        object_type="payout_batch",
        object_id=batch.pk,
        before={"status": before},
        after=_batch_state(batch),
        reason=reason,
    )


# Which payout method each rail (and CSV payment file) pays to; None: any, or none at all.
RAIL_METHODS: dict[str, str | None] = {
    PayoutBatch.Rail.CSV: None,
    PayoutBatch.Rail.EXTERNAL: None,
    PayoutBatch.Rail.PAYPAL: PayoutMethod.Method.PAYPAL,
    PayoutBatch.Rail.STRIPE_CONNECT: PayoutMethod.Method.STRIPE_CONNECT,
}


def rail_method(rail: str, csv_format: str) -> str | None:
    """The payout method every item of a batch on `rail` needs (None: any)."""
    if rail == PayoutBatch.Rail.CSV:
        return csv_rail.FORMAT_METHODS.get(csv_format)
    return RAIL_METHODS.get(rail)


def _check_rail(rail: str, csv_format: str) -> None:
    if rail not in PayoutBatch.Rail.values:
        raise ValidationFailed(
            f"rail: one of {', '.join(PayoutBatch.Rail.values)}.",
            errors=[{"field": "rail", "message": f"one of {', '.join(PayoutBatch.Rail.values)}"}],
        )
    if rail == PayoutBatch.Rail.CSV and csv_format not in PayoutBatch.CsvFormat.values:
        formats = ", ".join(PayoutBatch.CsvFormat.values)
        raise ValidationFailed(
            f"csv_format: one of {formats}.",
            errors=[{"field": "csv_format", "message": f"one of {formats}"}],
        )
    try:
        rail_get(rail)
    except UnknownRail:
        raise ValidationFailed(
            f"The {rail} rail is not available in this installation.",
            errors=[{"field": "rail", "message": "not available"}],
        ) from None


def payout_batch_create(
    *,
    program: Program,
    actor: str,
    description: str = "",
    rail: str = PayoutBatch.Rail.CSV,
    csv_format: str = PayoutBatch.CsvFormat.GENERIC,
    scheduled_for: Any = None,
) -> PayoutBatch:
    csv_format = csv_format or PayoutBatch.CsvFormat.GENERIC
    _check_rail(rail, csv_format)
    with transaction.atomic():
        batch = PayoutBatch.objects.create(
            program=program,
            currency=program.currency,
            description=description[:200],
            created_by=actor,
            rail=rail,
            csv_format=csv_format if rail == PayoutBatch.Rail.CSV else "",
            scheduled_for=scheduled_for,
        )
        audit_record(
            program=program,
            actor=actor,
            action="payout_batch.created",
            object_type="payout_batch",
            object_id=batch.pk,
            after={
                "status": batch.status,
                "description": batch.description,
                "rail": batch.rail,
                "csv_format": batch.csv_format,
            },
        )
    return batch


def beneficiary_known(program: Program, beneficiary: str) -> bool:
    """A participant of the program, or someone the books already hold rewards for (rewards
    name beneficiaries by external id, with or without a participant record)."""
    if participant_pk(program_id=program.pk, external_id=beneficiary) is not None:
        return True
    return Account.objects.filter(program=program, code=user_rewards_code(beneficiary)).exists()


def payout_item_add(
    *, batch: PayoutBatch, beneficiary: str, amount: int | None = None, actor: str
) -> PayoutItem:
    """Add a beneficiary to a draft batch, by default with their whole available balance."""
    if not isinstance(beneficiary, str) or not PARTICIPANT_ID_RE.fullmatch(beneficiary):
        raise ValidationFailed(
            "beneficiary: 1-200 characters: letters, digits, _ . @ -",
            errors=[{"field": "beneficiary", "message": "invalid external id"}],
        )
    if amount is not None and (type(amount) is not int or amount <= 0):
        raise ValidationFailed(
            "amount: a positive integer in minor units (or omit it to pay the whole balance).",
            errors=[{"field": "amount", "message": "must be a positive integer"}],
        )
    with transaction.atomic():
        batch = _lock(batch)
        _require_move(
            batch, Status.PENDING_APPROVAL, step="changed (items are added to drafts only)"
        )
        if batch.items.filter(beneficiary=beneficiary).exists():
            raise AlreadyExists(f"{beneficiary} is already in payout batch {batch.pk}.")
        program = batch.program
        if not beneficiary_known(program, beneficiary):
            raise NotFound(f"No such participant: {beneficiary}.")
        available = reward_balance_available(program=program, beneficiary=beneficiary)
        if amount is None and available <= 0:
            raise InsufficientFunds(
                f"{beneficiary} has nothing available to pay ({available} {program.currency})."
            )
        amount = available if amount is None else amount
        _check_amount(program, beneficiary, amount, available)
        item = PayoutItem.objects.create(
            batch=batch, beneficiary=beneficiary, amount=amount, added_by=actor
        )
        audit_record(
            program=program,
            actor=actor,
            action="payout_batch.item_added",
            object_type="payout_batch",
            object_id=batch.pk,
            after={"item": item.pk, "beneficiary": beneficiary, "amount": amount},
        )
    return item


def payout_batch_submit(*, batch: PayoutBatch, actor: str) -> PayoutBatch:
    with transaction.atomic():
        batch = _lock(batch)
        _require_move(batch, Status.PENDING_APPROVAL, step="submitted")
        if not batch.items.exists():
            raise InvalidTransition(f"Payout batch {batch.pk} has no items to submit.")
        before = batch.status
        batch.status = Status.PENDING_APPROVAL
        batch.submitted_by, batch.submitted_at = actor, timezone.now()
        batch.save(update_fields=["status", "submitted_by", "submitted_at"])
        _audit(batch, actor=actor, action="payout_batch.submitted", before=before)
    return batch


def payout_batch_makers(batch: PayoutBatch) -> dict[str, str]:
    """Who made the batch what it is, and how: its creator, its submitter and everyone who
    added an item. None of them may approve it (the admin hides the button from them too)."""
    roles = {batch.created_by: "created"}
    if batch.submitted_by:
        roles.setdefault(batch.submitted_by, "submitted")
    for added_by in batch.items.values_list("added_by", flat=True).distinct():
        if added_by:
            roles.setdefault(added_by, "added items to")
    return roles


def payout_batch_approve(*, batch: PayoutBatch, actor: str) -> PayoutBatch:
    """A second person approves: never one who created, submitted or filled the batch (also
    refused by the database). A key acts as its owner, so a person's keys and their session
    are the same actor here."""
    with transaction.atomic():
        batch = _lock(batch)
        role = payout_batch_makers(batch).get(actor)
        if role is not None:
            raise FourEyesViolation(
                f"{actor} {role} payout batch {batch.pk}; another person must approve it."
            )
        _require_move(batch, Status.APPROVED, step="approved")
        before = batch.status
        batch.status = Status.APPROVED
        batch.approved_by, batch.approved_at = actor, timezone.now()
        batch.save(update_fields=["status", "approved_by", "approved_at"])
        _audit(batch, actor=actor, action="payout_batch.approved", before=before)
    return batch


def payout_batch_reject(*, batch: PayoutBatch, actor: str, reason: str) -> PayoutBatch:
    if not reason or not reason.strip():
        raise ValidationFailed(
            "A reason is required to reject a payout batch.",
            errors=[{"field": "reason", "message": "This field is required."}],
        )
    with transaction.atomic():
        batch = _lock(batch)
        _require_move(batch, Status.REJECTED, step="rejected")
        before = batch.status
        batch.status = Status.REJECTED
        batch.rejected_by, batch.rejected_at = actor, timezone.now()
        batch.rejection_reason = reason
        batch.save(update_fields=["status", "rejected_by", "rejected_at", "rejection_reason"])
        _audit(batch, actor=actor, action="payout_batch.rejected", before=before, reason=reason)
    return batch


def _mark_paid(item: PayoutItem, rewards: list[Reward], *, available_after: int, actor: str):
    """Mark the beneficiary's confirmed rewards paid, oldest first, as far as the money paid
    out so far covers them: everything confirmed minus what is still available has been paid.
    A partial payout leaves the reward it does not fully cover confirmed for the next one."""
    budget = sum(r.amount for r in rewards) - available_after
    attempts = payout_items.coverage_attempts([r.pk for r in rewards])
    for reward in rewards:
        if reward.amount > budget:
            break
        budget -= reward.amount
        reward_transition_locked(
            reward=reward, to_status=Reward.Status.PAID, actor=actor, reason=item.reference
        )
        PayoutCoverage.objects.create(item=item, reward=reward, attempt=attempts.get(reward.pk, 0))


def _check_methods(batch: PayoutBatch, items: list[PayoutItem]) -> dict[str, PayoutMethod]:
    """Every item's payout method, refusing (400) a batch whose rail needs a method some
    beneficiary has not set (or set to another one)."""
    methods = payout_methods_of(program=batch.program, beneficiaries=[i.beneficiary for i in items])
    needed = rail_method(batch.rail, batch.csv_format)
    if needed is not None:
        missing = [
            i.beneficiary
            for i in items
            if i.beneficiary not in methods or methods[i.beneficiary].method != needed
        ]
        if missing:
            raise ValidationFailed(
                f"The {batch.rail} rail pays {needed} accounts only; these beneficiaries have "
                f"no {needed} payout method: {', '.join(missing)}.",
                errors=[
                    {"field": "items", "message": f"{b}: no {needed} payout method"}
                    for b in missing
                ],
            )
    return methods


def _refuse_changed_methods(batch: PayoutBatch, methods: dict[str, PayoutMethod]) -> None:
    changed = payout_items.payout_methods_changed_since_approval(batch, methods)
    if changed:
        raise InvalidTransition(
            f"The payout method of {', '.join(changed)} changed after payout batch {batch.pk} "
            "was approved: reject it and prepare a new one for a second person to approve."
        )


def payout_batch_execute(*, batch: PayoutBatch, actor: str) -> PayoutBatch:
    """Book the approved batch's transfers, mark the covered rewards paid and the items sent,
    and hand them to the batch's rail. Amounts are re-checked against balances under lock.
    Executing an executed batch books nothing; it hands the rail the items it has not answered
    for yet (a provider call interrupted by a crash), with the same idempotency keys."""
    with transaction.atomic():
        batch = _lock(batch)
        if batch.status == Status.EXECUTED:
            executed = True
        else:
            executed = False
            _execute_locked(batch, actor=actor)
    if not executed or not payout_items.rail_is_local(batch.rail):
        if not payout_items.rail_is_local(batch.rail):
            payout_items.payout_batch_dispatch(batch=batch, actor=actor)
        batch.refresh_from_db()
    return batch


def _execute_locked(batch: PayoutBatch, *, actor: str) -> None:
    _require_move(batch, Status.EXECUTED, step="executed")
    program = batch.program
    items = list(batch.items.order_by("beneficiary"))
    methods = _check_methods(batch, items)
    _refuse_changed_methods(batch, methods)
    codes = {user_rewards_code(i.beneficiary): i for i in items}
    accounts = {
        a.code: a
        for a in Account.objects.filter(program=program, code__in=[*codes, PAYOUTS_CLEARING])
    }
    rewards: dict[str, list[Reward]] = {i.beneficiary: [] for i in items}
    for reward in (
        Reward.objects.select_for_update(of=("self",))
        .select_related("program")
        .filter(
            program=program,
            beneficiary__in=rewards.keys(),
            status__in=reward_statuses_that_can_become(Reward.Status.PAID),
        )
        .order_by("pk")
    ):
        rewards[reward.beneficiary].append(reward)
    list(
        AccountBalance.objects.select_for_update()
        .filter(account__in=accounts.values())
        .order_by("account_id", "shard")
    )
    for code, item in sorted(codes.items()):
        account = accounts.get(code)
        available = 0 if account is None else account_balance(account)["available"]
        _check_amount(program, item.beneficiary, item.amount, available)
        txn = transaction_create(
            program=program,
            postings=[
                PostingLine(account, "debit", item.amount),  # type: ignore[arg-type]
                PostingLine(PAYOUTS_CLEARING, "credit", item.amount),
            ],
            description=f"Payout to {item.beneficiary} (batch {batch.pk})",
            metadata={"payout_batch": batch.pk, "payout_item": item.pk},
            reference=item.reference,
            actor=actor,
        )
        if not PayoutItem.objects.filter(pk=item.pk, transaction__isnull=True).update(
            transaction=txn
        ):
            raise InvalidTransition(f"Payout item {item.pk} was already booked.")
        oldest_first = sorted(rewards[item.beneficiary], key=lambda r: (r.created_at, r.pk))
        _mark_paid(
            item,
            oldest_first,
            available_after=available - item.amount,
            actor=actor,
        )
        item.transaction = txn
        method = methods.get(item.beneficiary)
        item.method = method.method if method else ""
        item.status, item.sent_at = PayoutItem.Status.SENT, timezone.now()
        item.save(update_fields=["method", "status", "sent_at"])
        payout_items.payout_item_notify("payout.sent", batch=batch, item=item)
    before = batch.status
    batch.status = Status.EXECUTED
    batch.executed_by, batch.executed_at = actor, timezone.now()
    batch.save(update_fields=["status", "executed_by", "executed_at"])
    _audit(batch, actor=actor, action="payout_batch.executed", before=before)
    webhook_emit(
        program=program,
        event_type="payout.executed",
        payload={
            "id": batch.pk,
            "currency": batch.currency,
            "total": sum(i.amount for i in items),
            "items": [
                {"beneficiary": i.beneficiary, "amount": i.amount, "reference": i.reference}
                for i in items
            ],
            "executed_at": batch.executed_at,
            "rail": batch.rail,
        },
    )
    if payout_items.rail_is_local(batch.rail):
        payout_items.payout_items_send_locked(batch=batch, items=items, actor=actor)


# Who may download a payment file (decrypted payout details): those who execute payouts. A
# viewer (an approver sees payout methods masked) gets the generic file only.
PAYMENT_FILE_PERMISSION = "ledger.execute_payoutbatch"


def payout_batch_csv_decrypts(*, batch: PayoutBatch, csv_format: str | None = None) -> bool:
    """Whether payout_batch_csv would write real payout details (a payment file)."""
    chosen = csv_format or batch.csv_format or PayoutBatch.CsvFormat.GENERIC
    return chosen != PayoutBatch.CsvFormat.GENERIC


def payout_batch_csv(*, batch: PayoutBatch, csv_format: str | None = None) -> str:
    """The batch as a file: `generic` (one row per item, amounts in minor and major units and
    the transfer's reference; no payout details) or a payment file
    (`paypal_mass_pay`, `wise_batch`: the real details the provider needs, for items with the
    matching payout method). Default: the batch's own format."""
    if batch.status not in (Status.APPROVED, Status.EXECUTED):
        raise InvalidTransition(
            f"Payout batch {batch.pk} is {batch.status}; only approved or executed batches "
            "are exported."
        )
    csv_format = csv_format or batch.csv_format or PayoutBatch.CsvFormat.GENERIC
    if csv_format not in csv_rail.FORMATS:
        raise ValidationFailed(
            f"csv_format: one of {', '.join(csv_rail.FORMATS)}.",
            errors=[{"field": "csv_format", "message": f"one of {', '.join(csv_rail.FORMATS)}"}],
        )
    items = list(batch.items.order_by("beneficiary"))
    if csv_format == PayoutBatch.CsvFormat.GENERIC:
        return csv_rail.csv_generic(
            [(i.beneficiary, i.amount, batch.currency, i.reference) for i in items]
        )
    needed = csv_rail.FORMAT_METHODS[csv_format]
    probe = PayoutBatch(
        pk=batch.pk, program=batch.program, rail=PayoutBatch.Rail.CSV, csv_format=csv_format
    )
    methods = _check_methods(probe, items)
    _refuse_changed_methods(batch, methods)
    assert needed is not None
    rail_items = [
        payout_items.rail_item(batch, i, methods[i.beneficiary], decrypt=True) for i in items
    ]
    if csv_format == PayoutBatch.CsvFormat.PAYPAL_MASS_PAY:
        return csv_rail.csv_paypal_mass_pay(rail_items)
    return csv_rail.csv_wise_batch(rail_items)
