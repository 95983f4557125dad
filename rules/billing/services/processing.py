"""Processing a stored delivery: map it to an event through `event_ingest`, and apply refunds.

One delivery is processed under its row lock, once: a delivery that is no longer `received`
is skipped, so concurrent hand-offs, the sweep and a replay never apply it twice. What comes
of it is stored on the delivery (status, the event it became, and why).

**Payments** (purchase, subscription_started, subscription_renewed) become events whose id is
`<provider>:<provider event id>` (a subscription's checkout and its first invoice share
`<provider>:subscription:<id>:started`), with `data.amount` (minor units), `data.currency`,
`data.provider` and `data.provider_ids`, the user and referrer found by services.lookup. The
rules then pay commissions as for any event. The payment is remembered by every id the
provider gave it, so its refunds find it.

**Refunds** (refunds, disputes, chargebacks) become `refund` events with `data.payment_event`
(the payment's event id) and `data.reason`; under the `reverse_or_clawback` policy the payment's
rewards are then brought to their share of what was not refunded:

    kept = floor(original reward * (payment amount - refunded so far) / payment amount)

A reward above its kept amount is retired (reversed while unpaid, clawed back once paid,
through reward_reverse / reward_clawback) and, when something is kept, replaced by a new reward
of the kept amount in the same state (pending, or confirmed for a confirmed or paid one) with a
deterministic source key. A full refund keeps nothing. `record_only` records the event and
moves no reward. A refund whose payment has not arrived waits (`waiting_for`) and is applied
when the payment's event has been processed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import DomainError, IdempotencyKeyReused
from rules.billing.models import CustomerLink, Delivery, Integration, Payment, PaymentRef
from rules.billing.providers import (
    Ignored,
    PaymentEvent,
    RefundEvent,
    provider_get,
)
from rules.billing.services.handoff import delivery_handoff_on_commit
from rules.billing.services.lookup import participant_lookup
from rules.models import Event, RewardLink
from rules.rewards.models import Reward
from rules.rewards.services.rewards import (
    reward_can_become,
    reward_clawback,
    reward_confirm,
    reward_create,
    reward_reverse,
)
from rules.services.events import event_ingest

logger = logging.getLogger(__name__)

Status = Delivery.Status
MAX_ATTEMPTS = 10
LIVE = (Reward.Status.PENDING, Reward.Status.CONFIRMED, Reward.Status.PAID)


class NotReady(Exception):
    """The payment's event is not processed yet: its rewards may still be on their way."""


@dataclass
class Outcome:
    status: str
    reason: str
    event_id: str = ""
    waiting_for: str = ""


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 1800))


def delivery_process(*, delivery_pk: int) -> str:
    """Process one received delivery; safe to call any number of times from anywhere."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("program")
            .filter(pk=delivery_pk)
            .first()
        )
        if delivery is None or delivery.status != Status.RECEIVED:
            return "skipped"
        delivery.attempts += 1
        now = timezone.now()
        try:
            with transaction.atomic():  # a failure undoes the mapping, not the bookkeeping
                outcome = _apply(delivery)
        except NotReady as exc:
            if delivery.attempts < MAX_ATTEMPTS:
                delivery.reason = str(exc)
                delivery.next_attempt_at = now + _backoff(delivery.attempts)
                delivery.save(update_fields=["attempts", "reason", "next_attempt_at"])
                return "retry"
            outcome = Outcome(Status.FAILED, f"{exc} (gave up after {delivery.attempts} tries)")
        except DomainError as exc:
            outcome = Outcome(Status.FAILED, f"{exc.code}: {exc.detail}")
        except Exception as exc:  # a bug must not lose the delivery: it stays for a replay
            logger.exception("Billing delivery %s failed", delivery_pk)
            outcome = Outcome(Status.FAILED, f"{type(exc).__name__}: {exc}"[:4000])
        delivery.status = outcome.status
        delivery.reason = outcome.reason
        delivery.event_id = outcome.event_id
        delivery.waiting_for = outcome.waiting_for
        delivery.next_attempt_at = None
        if outcome.status != Status.RECEIVED:
            delivery.processed_at = now
        delivery.save(
            update_fields=[
                "status",
                "reason",
                "event_id",
                "waiting_for",
                "attempts",
                "next_attempt_at",
                "processed_at",
            ]
        )
    return str(outcome.status)


def delivery_mark_due(*, delivery_pk: int) -> None:
    """A hand-off that never reached the broker: due for the sweep now, not after the lease."""
    Delivery.objects.filter(pk=delivery_pk, status=Status.RECEIVED).update(
        next_attempt_at=timezone.now()
    )


def delivery_replay(*, delivery: Delivery, actor: str) -> Delivery:
    """Process a delivery again from its stored body (the admin's "Replay"): audited. What it
    already did is not done twice (the event id and the reward keys are deterministic)."""
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        before = {"status": locked.status, "reason": locked.reason}
        locked.status = Status.RECEIVED
        locked.reason = ""
        locked.waiting_for = ""
        locked.next_attempt_at = None
        locked.processed_at = None
        locked.save(
            update_fields=["status", "reason", "waiting_for", "next_attempt_at", "processed_at"]
        )
        audit_record(
            program=locked.program,
            actor=actor,
            action="billing.delivery.replayed",
            object_type="billing_delivery",
            object_id=locked.pk,
            before=before,
            after={"status": Status.RECEIVED},
        )
        delivery_handoff_on_commit(locked.pk)
    return locked


def _apply(delivery: Delivery) -> Outcome:
    integration = Integration.objects.filter(
        program=delivery.program, provider=delivery.provider
    ).first()
    if integration is None:
        return Outcome(Status.IGNORED, "the integration was removed")
    spec = provider_get(delivery.provider)
    if spec is None:
        return Outcome(Status.IGNORED, f"provider {delivery.provider!r} is not installed")
    mapped = spec.map(json.loads(delivery.body))
    if isinstance(mapped, Ignored):
        return Outcome(Status.IGNORED, mapped.reason)
    program = delivery.program
    if mapped.currency != program.currency:
        return Outcome(
            Status.IGNORED,
            f"currency {mapped.currency or '?'} is not the program's {program.currency}",
        )
    if isinstance(mapped, PaymentEvent):
        return _payment(delivery, integration, mapped)
    assert isinstance(mapped, RefundEvent)
    return _refund(delivery, integration, mapped)


def _actor(delivery: Delivery) -> str:
    return f"billing:{delivery.provider}"


def _event_type(integration: Integration, kind: str) -> str:
    return (integration.mapping.get("event_types") or {}).get(kind) or kind


def _payment(delivery: Delivery, integration: Integration, mapped: PaymentEvent) -> Outcome:
    program = delivery.program
    found = participant_lookup(
        program=program,
        provider=delivery.provider,
        lookup=mapped.lookup,
        mapping=integration.mapping,
    )
    if not found.user:
        return Outcome(
            Status.IGNORED,
            "no participant: no client_reference_id, metadata, email or customer id names one",
        )
    event_id = f"{delivery.provider}:{mapped.event_key or delivery.provider_event_id}"
    event_type = _event_type(integration, mapped.kind)
    data = {
        "amount": mapped.amount,
        "currency": mapped.currency,
        "provider": delivery.provider,
        "provider_ids": mapped.provider_ids,
    }
    note = ""
    try:
        event, created = event_ingest(
            program=program,
            event_id=event_id,
            type=event_type,
            user=found.user,
            occurred_at=mapped.occurred_at,
            data=data,
            actor=_actor(delivery),
            click_id=found.click_id or None,
            coupon=(found.coupon or None) if not found.click_id else None,
        )
        user = event.participant.external_id
    except IdempotencyKeyReused:
        # Another delivery of the same payment (a subscription's checkout session and its
        # first invoice) recorded the event first.
        existing = Event.objects.select_related("participant").get(
            program=program, event_id=event_id
        )
        user, created = existing.participant.external_id, False
        note = "; the event was already recorded by another delivery of this payment"
    if mapped.lookup.customer:
        CustomerLink.objects.get_or_create(
            program=program,
            provider=delivery.provider,
            customer=mapped.lookup.customer,
            defaults={"user": user},
        )
    payment, _ = Payment.objects.get_or_create(
        program=program,
        event_id=event_id,
        defaults={
            "provider": delivery.provider,
            "user": user,
            "amount": mapped.amount,
            "currency": mapped.currency,
        },
    )
    PaymentRef.objects.bulk_create(
        [
            PaymentRef(program=program, provider=delivery.provider, ref=ref, payment=payment)
            for ref in mapped.refs
        ],
        ignore_conflicts=True,
    )
    _wake_refunds(delivery, refs=mapped.refs)
    return Outcome(
        Status.PROCESSED,
        f"{event_type} of {mapped.amount} {mapped.currency} for {user!r} ({found.describe()})"
        + ("" if created else "; already recorded")
        + note,
        event_id=event_id,
    )


def _wake_refunds(delivery: Delivery, *, refs: tuple[str, ...]) -> None:
    """Refunds that arrived before this payment: processed after this commit, once the
    payment's event has gone to the rules (on commit, in the order scheduled)."""
    if not refs:
        return
    waiting = list(
        Delivery.objects.filter(
            program=delivery.program,
            provider=delivery.provider,
            status=Status.RECEIVED,
            waiting_for__in=refs,
        ).values_list("pk", flat=True)
    )
    if waiting:
        Delivery.objects.filter(pk__in=waiting).update(waiting_for="", next_attempt_at=None)
        for pk in waiting:
            delivery_handoff_on_commit(pk)


def _refund(delivery: Delivery, integration: Integration, mapped: RefundEvent) -> Outcome:
    program = delivery.program
    ref = (
        PaymentRef.objects.filter(
            program=program, provider=delivery.provider, ref__in=mapped.payment_refs
        )
        .select_related("payment")
        .first()
    )
    if ref is None:
        if not mapped.payment_refs:
            return Outcome(Status.IGNORED, "the refund names no payment")
        return Outcome(
            Status.RECEIVED,
            f"waiting for its payment {mapped.payment_refs[0]}: applied when it arrives",
            waiting_for=mapped.payment_refs[0],
        )
    payment = Payment.objects.select_for_update().get(pk=ref.payment_id)
    original = Event.objects.filter(program=program, event_id=payment.event_id).first()
    if original is None or original.status in (Event.Status.RECEIVED, Event.Status.PROCESSING):
        raise NotReady(f"the payment's event {payment.event_id} is not processed yet")
    event_id = f"{delivery.provider}:{mapped.event_key or delivery.provider_event_id}"
    event_ingest(
        program=program,
        event_id=event_id,
        type=_event_type(integration, "refund"),
        user=payment.user,
        occurred_at=mapped.occurred_at,
        data={
            "amount": mapped.amount,
            "currency": mapped.currency,
            "provider": delivery.provider,
            "provider_ids": mapped.provider_ids,
            "payment_event": payment.event_id,
            "reason": mapped.reason,
        },
        actor=_actor(delivery),
    )
    refunds = dict(payment.refunds)
    previous = refunds.get(mapped.refund_ref, 0)
    refunds[mapped.refund_ref] = (
        max(previous, mapped.refunded) if mapped.cumulative else mapped.refunded
    )
    if refunds != payment.refunds:
        payment.refunds = refunds
        payment.save(update_fields=["refunds"])
    refunded = min(payment.amount, sum(refunds.values()))
    summary = f"{mapped.reason} of {payment.event_id}: {refunded} of {payment.amount} refunded"
    if integration.refund_policy == Integration.RefundPolicy.RECORD_ONLY:
        return Outcome(Status.PROCESSED, f"{summary}; record_only: no reward moved", event_id)
    moved = commission_adjust(
        payment=payment,
        original=original,
        refunded=refunded,
        actor=_actor(delivery),
        reason=f"{mapped.reason} {event_id} of {payment.event_id}",
    )
    return Outcome(Status.PROCESSED, f"{summary}; {_describe(moved)}", event_id)


def _describe(moved: dict[str, list[int]]) -> str:
    parts = [f"{k} {v}" for k, v in moved.items() if v]
    return "rewards " + ", ".join(parts) if parts else "no reward to change"


def _live_rewards(*, payment: Payment, original: Event) -> list[Reward]:
    from_rules = Reward.objects.filter(
        pk__in=RewardLink.objects.filter(event=original).values("reward_id"), status__in=LIVE
    )
    replacements = Reward.objects.filter(
        program=payment.program, metadata__billing_payment=payment.event_id, status__in=LIVE
    )
    rewards = {r.pk: r for r in [*from_rules, *replacements]}
    return [rewards[pk] for pk in sorted(rewards)]


def commission_adjust(
    *, payment: Payment, original: Event, refunded: int, actor: str, reason: str
) -> dict[str, list[int]]:
    """Bring each reward of the payment to its share of the amount not refunded (see the
    module's docstring). Deterministic and idempotent: a repeat finds every reward at its kept
    amount already."""
    moved: dict[str, list[int]] = {"reversed": [], "clawed_back": [], "replaced_by": []}
    remaining = max(payment.amount - refunded, 0)
    for reward in _live_rewards(payment=payment, original=original):
        base = int(reward.metadata.get("billing_base_amount") or reward.amount)
        origin = int(reward.metadata.get("billing_original") or reward.pk)
        kept = base * remaining // payment.amount
        if kept >= reward.amount:
            continue
        was = reward.status
        if reward_can_become(was, Reward.Status.REVERSED):
            reward_reverse(reward=reward, reason=reason, actor=actor)
            moved["reversed"].append(reward.pk)
        elif reward_can_become(was, Reward.Status.CLAWED_BACK):
            reward_clawback(reward=reward, reason=reason, actor=actor)
            moved["clawed_back"].append(reward.pk)
        else:  # pragma: no cover - LIVE statuses can all be retired
            continue
        if kept <= 0:
            continue
        metadata: dict[str, Any] = {
            **reward.metadata,
            "billing_payment": payment.event_id,
            "billing_base_amount": base,
            "billing_original": origin,
            "billing_replaces": reward.pk,
        }
        replacement, _ = reward_create(
            program=payment.program,
            beneficiary=reward.beneficiary,
            amount=kept,
            currency=reward.currency,
            reward_type=reward.reward_type,
            metadata=metadata,
            source_key=f"billing:{payment.event_id}:{origin}:{kept}"[:255],
            actor=actor,
        )
        confirm = was != Reward.Status.PENDING and not replacement.hold_reason
        if confirm and replacement.status == Reward.Status.PENDING:
            reward_confirm(reward=replacement, actor=actor, reason=reason)
        moved["replaced_by"].append(replacement.pk)
    return moved
