"""A payout item after execution (SPEC §13): `sent`, then `paid` or `failed`.

    pending ──execute──▶ sent ──confirm / provider──▶ paid
                          └────fail / provider──────▶ failed ◀── paid (returned)

A failed (or returned) item books the transfer back, `program:payouts_clearing` →
`user:{beneficiary}:rewards` (reference `payout:{batch}:{item}:return`, linked to the item by a
conditional update of a unique column: returned once, however often it is failed), puts the
rewards it paid back to `confirmed` (a later payout covers them again), tells the partner
(notification "payout.failed") and is audited; reconciliation checks all of it
(reconciliation.check_payout_items). Locks follow payouts.py's order: batch row, rewards, then
balance rows.

Provider rails are called outside any database transaction (`payout_batch_dispatch`): every
call carries the item's deterministic idempotency key, and an answer is recorded only for an
item that has none yet, so a crash between the provider's answer and our commit is repaired by
asking again (the provider answers with the payout it already made).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.crypto import mask, mask_email
from config.platform.exceptions import InvalidTransition, NotFound, ValidationFailed
from config.platform.notifications import notification_emit
from ledger.accounts import PAYOUTS_CLEARING, user_rewards_code
from ledger.booking.lines import PostingLine
from ledger.services.transactions import transaction_create
from rules.rewards.models import PayoutBatch, PayoutCoverage, PayoutItem, PayoutMethod, Reward
from rules.rewards.payout_selectors import (
    payout_coverage_attempts,
    payout_items_awaiting_provider,
    payout_items_to_poll,
    payout_methods_of,
)
from rules.rewards.rails.base import RailItem, RailResult, rail_get
from rules.rewards.rails.providers import RailUnavailable
from rules.rewards.services.payout_methods import payout_method_details
from rules.rewards.services.reward_records import reward_record_status

logger = logging.getLogger(__name__)

ItemStatus = PayoutItem.Status
# Rails whose items an operator or the company settles by hand (the others: the provider).
MANUALLY_SETTLED = frozenset({PayoutBatch.Rail.CSV, PayoutBatch.Rail.EXTERNAL})
MAX_REASON = 2000


def rail_is_local(rail: str) -> bool:
    """Whether the rail only writes to our database (runs inside the execution's transaction)."""
    return bool(getattr(rail_get(rail), "local", False))


def coverage_attempts(reward_ids: Sequence[int]) -> dict[int, int]:
    return payout_coverage_attempts(reward_ids)


def rail_item(
    batch: PayoutBatch, item: PayoutItem, method: PayoutMethod | None, *, decrypt: bool
) -> RailItem:
    """The item as a rail sees it: decrypted details only for a rail (or file) that pays."""
    if method is None:
        details: dict[str, Any] = {}
    elif decrypt:
        details = payout_method_details(method)
    else:
        details = dict(method.masked)
    return RailItem(
        item_id=item.pk,
        idempotency_key=item.idempotency_key,
        amount=item.amount,
        currency=batch.currency,
        method=method.method if method else (item.method or ""),
        details=details,
        participant_external_id=item.beneficiary,
        note=(batch.description or f"Payout {item.reference}")[:140],
    )


def details_redacted(text: str, items: Sequence[RailItem]) -> str:
    """`text` (a provider's answer) with every payout detail it echoes masked: Stripe answers
    "No such destination: 'acct_…'", and the reason is stored, audited and emailed."""
    for item in items:
        for value in item.details.values():
            if isinstance(value, str) and len(value) >= 4 and value in text:
                text = text.replace(value, mask_email(value) if "@" in value else mask(value))
    return text


def payout_methods_changed_since_approval(
    batch: PayoutBatch, methods: dict[str, PayoutMethod]
) -> list[str]:
    """Beneficiaries whose payout method was set after the batch was approved: the approver
    did not see where their money would go (an operator could point it at their own account)."""
    if batch.approved_at is None:
        return []
    return sorted(b for b, m in methods.items() if m.updated_at > batch.approved_at)


def _rail_items(batch: PayoutBatch, items: Sequence[PayoutItem], *, decrypt: bool):
    methods = payout_methods_of(program=batch.program, beneficiaries=[i.beneficiary for i in items])
    return [rail_item(batch, i, methods.get(i.beneficiary), decrypt=decrypt) for i in items]


def _lock_batch(batch: PayoutBatch) -> PayoutBatch:
    return PayoutBatch.objects.select_for_update().select_related("program").get(pk=batch.pk)


def _lock_item(item_id: int) -> PayoutItem:
    return PayoutItem.objects.select_for_update().get(pk=item_id)


def _lock_own_item(batch: PayoutBatch, item: PayoutItem) -> PayoutItem:
    """The item, locked, if it is the batch's: another batch's item was settled (and its
    return booked) under the wrong batch, on that batch's rail."""
    locked = _lock_item(item.pk)
    if locked.batch_id != batch.pk:
        raise NotFound(f"No payout item {item.pk} in batch {batch.pk}.")
    return locked


def _audit(batch: PayoutBatch, item: PayoutItem, *, actor: str, action: str, before: str):
    audit_record(
        program=batch.program,
        actor=actor,
        action=action,
        object_type="payout_item",
        object_id=item.pk,
        before={"status": before},
        after={
            "status": item.status,
            "batch": batch.pk,
            "beneficiary": item.beneficiary,
            "amount": item.amount,
            "provider_ref": item.provider_ref,
        },
        reason=item.failure_reason if item.status == ItemStatus.FAILED else "",
    )


def _mark_paid_locked(batch: PayoutBatch, item: PayoutItem, *, actor: str) -> PayoutItem:
    if item.status == ItemStatus.PAID:
        return item
    if item.status != ItemStatus.SENT:
        raise InvalidTransition(f"Payout item {item.pk} is {item.status}; it cannot be paid.")
    before = item.status
    item.status, item.paid_at = ItemStatus.PAID, timezone.now()
    item.save(update_fields=["status", "paid_at"])
    _audit(batch, item, actor=actor, action="payout_item.paid", before=before)
    return item


def _unpay(reward: Reward, *, actor: str, reason: str) -> None:
    """paid → confirmed: the money came back, the reward can be paid again. Not a step of the
    reward lifecycle's TRANSITIONS (no one may ask for it): only a returned payout does it."""
    now = timezone.now()
    reward.status, reward.paid_at, reward.updated_at = Reward.Status.CONFIRMED, None, now
    reward.save(update_fields=["status", "paid_at", "updated_at"])
    reward_record_status(reward, before=Reward.Status.PAID, at=now, actor=actor, reason=reason)


def _fail_locked(batch: PayoutBatch, item: PayoutItem, *, reason: str, actor: str) -> PayoutItem:
    if item.status == ItemStatus.FAILED:
        return item
    if item.status not in (ItemStatus.SENT, ItemStatus.PAID):
        raise InvalidTransition(f"Payout item {item.pk} is {item.status}; it cannot fail.")
    program = batch.program
    reward_ids = PayoutCoverage.objects.filter(item=item).values_list("reward_id", flat=True)
    rewards = list(
        Reward.objects.select_for_update(of=("self",))
        .select_related("program")
        .filter(pk__in=list(reward_ids), status=Reward.Status.PAID)
        .order_by("pk")
    )
    txn = transaction_create(
        program=program,
        postings=[
            PostingLine(PAYOUTS_CLEARING, "debit", item.amount),
            PostingLine(user_rewards_code(item.beneficiary), "credit", item.amount),
        ],
        description=f"Payout to {item.beneficiary} returned (batch {batch.pk}): {reason}"[:500],
        metadata={"payout_batch": batch.pk, "payout_item": item.pk, "returned": True},
        reference=item.return_reference,
        actor=actor,
    )
    before = item.status
    now = timezone.now()
    if not PayoutItem.objects.filter(pk=item.pk, return_transaction__isnull=True).update(
        return_transaction=txn, status=ItemStatus.FAILED, failure_reason=reason, failed_at=now
    ):
        raise InvalidTransition(f"Payout item {item.pk} was already returned.")
    item.return_transaction, item.status = txn, ItemStatus.FAILED
    item.failure_reason, item.failed_at = reason, now
    for reward in rewards:
        _unpay(reward, actor=actor, reason=f"{item.reference} failed: {reason}"[:500])
    _audit(batch, item, actor=actor, action="payout_item.failed", before=before)
    payout_item_notify("payout.failed", batch=batch, item=item, reason=reason)
    return item


def payout_item_notify(kind: str, *, batch: PayoutBatch, item: PayoutItem, **extra: Any) -> None:
    """Tell the partner (config/platform/notifications.py) that their item was sent or failed;
    in the transaction that moved it."""
    notification_emit(
        kind,
        program_id=batch.program_id,
        beneficiary=item.beneficiary,
        data={
            "batch": batch.pk,
            "item": item.pk,
            "beneficiary": item.beneficiary,
            "amount": item.amount,
            "currency": batch.currency,
            "method": item.method,
            "reference": item.reference,
            **extra,
        },
    )


def _apply_locked(batch: PayoutBatch, item: PayoutItem, result: RailResult, *, actor: str):
    """Record a rail's answer about an item whose row is locked. The first provider_ref stays:
    an answer for an item that already has one only moves its status forward."""
    if result.provider_ref and not item.provider_ref:
        item.provider_ref = result.provider_ref[:255]
        item.save(update_fields=["provider_ref"])
    if result.status == "paid":
        if item.status == ItemStatus.SENT:
            _mark_paid_locked(batch, item, actor=actor)
    elif result.status == "failed" and item.status in (ItemStatus.SENT, ItemStatus.PAID):
        _fail_locked(batch, item, reason=result.reason or "refused by the provider", actor=actor)


def payout_items_send_locked(*, batch: PayoutBatch, items: Sequence[PayoutItem], actor: str):
    """A local rail (csv, external) in the execution's own transaction: masked details only."""
    rail = rail_get(batch.rail)
    results = rail.send(
        program_id=batch.program_id,
        batch_id=batch.pk,
        items=_rail_items(batch, items, decrypt=False),
    )
    by_id = {i.pk: i for i in items}
    for result in results:
        item = by_id.get(result.item_id)
        if item is not None:
            _apply_locked(batch, _lock_item(item.pk), result, actor=actor)


def _record(batch: PayoutBatch, results: Sequence[RailResult], *, actor: str) -> None:
    with transaction.atomic():
        batch = _lock_batch(batch)
        ids = {i.pk for i in batch.items.all()}
        for result in results:
            if result.item_id in ids:
                _apply_locked(batch, _lock_item(result.item_id), result, actor=actor)


def payout_batch_dispatch(*, batch: PayoutBatch, actor: str) -> int:
    """Hand a provider rail the batch's sent items it has not answered for yet, outside any
    database transaction, and record the answers. Returns how many items were sent. A provider
    outage (RailUnavailable) leaves them sent without a provider_ref: executing the batch
    again, or the poll sweep, retries with the same idempotency keys."""
    items = payout_items_awaiting_provider(batch=batch)
    if not items:
        return 0
    rail = rail_get(batch.rail)
    methods = payout_methods_of(program=batch.program, beneficiaries=[i.beneficiary for i in items])
    changed = set(payout_methods_changed_since_approval(batch, methods))
    if changed:  # set after the approval (and after execution): returned, not paid
        _record(
            batch,
            [
                RailResult(
                    item_id=i.pk,
                    status="failed",
                    reason="the payout method changed after the batch was approved",
                )
                for i in items
                if i.beneficiary in changed
            ],
            actor=actor,
        )
        items = [i for i in items if i.beneficiary not in changed]
        if not items:
            return 0
    rail_items = _rail_items(batch, items, decrypt=True)
    try:
        results = rail.send(program_id=batch.program_id, batch_id=batch.pk, items=rail_items)
    except RailUnavailable as exc:
        logger.warning(
            "payout rail unavailable",
            extra={
                "batch": batch.pk,
                "rail": batch.rail,
                "error": details_redacted(exc.message, rail_items),
            },
        )
        return 0
    results = [
        replace(r, reason=details_redacted(r.reason, rail_items)) if r.reason else r
        for r in results
    ]
    _record(batch, results, actor=actor)
    return len(items)


def payout_items_poll(*, actor: str = "system:payout_poll") -> int:
    """Ask the provider rails how their acknowledged items ended; returns the answers applied."""
    by_batch: dict[int, list[PayoutItem]] = {}
    for item in payout_items_to_poll():
        by_batch.setdefault(item.batch_id, []).append(item)
    applied = 0
    for items in by_batch.values():
        batch = items[0].batch
        refs = {i.provider_ref: i for i in items}
        try:
            results = rail_get(batch.rail).poll(
                program_id=batch.program_id, provider_refs=list(refs)
            )
        except RailUnavailable:
            continue
        _record(batch, results, actor=actor)
        applied += len(results)
    return applied


def payout_batches_redispatch(*, actor: str = "system:payout_poll") -> int:
    """Executed provider-rail batches with items no provider has answered for (a crash or an
    outage after execution): send them again with the same idempotency keys."""
    batches = PayoutBatch.objects.filter(
        status=PayoutBatch.Status.EXECUTED,
        rail__in=[PayoutBatch.Rail.PAYPAL, PayoutBatch.Rail.STRIPE_CONNECT],
        items__status=ItemStatus.SENT,
        items__provider_ref="",
    ).distinct()
    return sum(payout_batch_dispatch(batch=b, actor=actor) for b in batches)


def _settled_by_hand(batch: PayoutBatch, step: str) -> None:
    if batch.rail not in MANUALLY_SETTLED:
        raise InvalidTransition(
            f"Payout batch {batch.pk} pays through {batch.rail}: its items are {step} by the "
            "provider, not by hand."
        )


def payout_item_confirm(*, batch: PayoutBatch, item: PayoutItem, actor: str) -> PayoutItem:
    """sent → paid, for the csv and external rails (the operator or the company says the money
    arrived). Confirming a paid item changes nothing."""
    with transaction.atomic():
        batch = _lock_batch(batch)
        _settled_by_hand(batch, "confirmed")
        return _mark_paid_locked(batch, _lock_own_item(batch, item), actor=actor)


def payout_item_fail(
    *, batch: PayoutBatch, item: PayoutItem, reason: str, actor: str
) -> PayoutItem:
    """sent or paid (returned) → failed, for the csv and external rails: the transfer back,
    rewards confirmed again, the partner told. Failing a failed item changes nothing."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed(
            "A reason is required to fail a payout item.",
            errors=[{"field": "reason", "message": "This field is required."}],
        )
    with transaction.atomic():
        batch = _lock_batch(batch)
        _settled_by_hand(batch, "failed")
        return _fail_locked(
            batch, _lock_own_item(batch, item), reason=reason.strip()[:MAX_REASON], actor=actor
        )


def payout_item_provider_result(*, batch: PayoutBatch, result: RailResult, actor: str) -> None:
    """A provider's later word about an item (its webhook, a poll): paid, failed or returned."""
    _record(batch, [result], actor=actor)
