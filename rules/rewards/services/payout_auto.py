"""Preparing payouts without typing names (SPEC §13): a draft batch with every beneficiary who
can be paid, and the program's monthly schedule that makes that draft itself.

A beneficiary is put in the draft with their whole available balance when it is at least the
program's `min_payout` (and above zero) and they have a payout method the batch's rail can pay;
everyone else with a rewards account is listed as skipped, with why. The draft then follows the
two-person path like any other: the scheduler only drafts (its actor, `system:payout_schedule`,
is nobody's identity), a person submits it and another approves it.

`payout_schedule = monthly` drafts once per program and month, on day `1 + payout_delay_days`
(UTC) or at the first scheduler tick after it; the batch records the month (`scheduled_for`,
unique per program), so concurrent or repeated ticks draft it once.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.platform.exceptions import DomainError
from config.platform.models import PayoutSchedule, Program
from rules.rewards.models import PayoutBatch
from rules.rewards.payout_selectors import payout_candidates, payout_methods_of
from rules.rewards.services.payouts import (
    payout_batch_create,
    payout_item_add,
    rail_method,
)

logger = logging.getLogger(__name__)

SCHEDULE_ACTOR = "system:payout_schedule"


@dataclass(frozen=True)
class Skipped:
    beneficiary: str
    available: int
    reason: str  # below_min_payout | no_payout_method | method_not_on_rail | refused
    detail: str


def payout_batch_auto(
    *,
    program: Program,
    actor: str,
    description: str = "",
    rail: str = PayoutBatch.Rail.CSV,
    csv_format: str = PayoutBatch.CsvFormat.GENERIC,
    scheduled_for: date | None = None,
    create_empty: bool = True,
) -> tuple[PayoutBatch | None, list[Skipped]]:
    """A draft with every payable beneficiary, and who was skipped and why. With
    `create_empty=False` (the scheduler) no batch is made when nobody can be paid."""
    candidates = [(b, a) for b, a in payout_candidates(program=program) if a > 0]
    methods = payout_methods_of(program=program, beneficiaries=[b for b, _ in candidates])
    needed = rail_method(rail, csv_format)
    currency, minimum = program.currency, program.min_payout
    payable: list[tuple[str, int]] = []
    skipped: list[Skipped] = []
    for beneficiary, available in candidates:
        method = methods.get(beneficiary)
        if available < minimum:
            skipped.append(
                Skipped(
                    beneficiary,
                    available,
                    "below_min_payout",
                    f"{available} {currency} available (minor units), below the minimum "
                    f"payout of {minimum}",
                )
            )
        elif method is None:
            skipped.append(
                Skipped(beneficiary, available, "no_payout_method", "no payout method set")
            )
        elif needed is not None and method.method != needed:
            skipped.append(
                Skipped(
                    beneficiary,
                    available,
                    "method_not_on_rail",
                    f"paid by {method.method}; this batch pays {needed} accounts only",
                )
            )
        else:
            payable.append((beneficiary, available))
    if not payable and not create_empty:
        return None, skipped
    if not description:
        month = (scheduled_for or timezone.now().date()).strftime("%B %Y")
        description = f"Payouts {month} (prepared automatically)"
    with transaction.atomic():
        batch = payout_batch_create(
            program=program,
            actor=actor,
            description=description,
            rail=rail,
            csv_format=csv_format,
            scheduled_for=scheduled_for,
        )
        for beneficiary, available in payable:
            try:
                with transaction.atomic():
                    payout_item_add(batch=batch, beneficiary=beneficiary, actor=actor)
            except DomainError as exc:  # the balance moved since it was read
                skipped.append(Skipped(beneficiary, available, "refused", exc.detail))
    return batch, skipped


def skipped_as_dicts(skipped: list[Skipped]) -> list[dict[str, Any]]:
    return [asdict(s) for s in skipped]


def schedule_month_due(program: Program, today: date) -> date | None:
    """The month (its first day) a monthly program's draft is due for today, if it is."""
    if program.payout_schedule != PayoutSchedule.MONTHLY:
        return None
    month = today.replace(day=1)
    if today < month + timedelta(days=program.payout_delay_days):
        return None
    return month


def payout_schedule_run(*, now: datetime | None = None) -> list[PayoutBatch]:
    """The scheduler's job: each monthly program's draft, once per month."""
    today = (now or timezone.now()).date()
    made = []
    for program in Program.objects.filter(payout_schedule=PayoutSchedule.MONTHLY):
        month = schedule_month_due(program, today)
        if month is None:
            continue
        if PayoutBatch.objects.filter(program=program, scheduled_for=month).exists():
            continue
        try:
            with transaction.atomic():
                batch, skipped = payout_batch_auto(
                    program=program,
                    actor=SCHEDULE_ACTOR,
                    scheduled_for=month,
                    create_empty=False,
                )
        except IntegrityError:  # another process drafted this month's batch first
            continue
        if batch is None:
            logger.info(
                "scheduled payout: nobody to pay",
                extra={"program": program.slug, "skipped": len(skipped)},
            )
            continue
        made.append(batch)
    return made
