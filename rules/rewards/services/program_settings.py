"""Changing a program's settings (the admin's program page), audited like every change."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from config.platform.audit import fields_update_audited
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program

# What an operator may change once a program exists; slug, currency and operation set are
# fixed because accounts, balances and API paths depend on them.
EDITABLE = frozenset(
    {
        "name",
        "direct_rate_bps",
        "override_rate_bps",
        "hold_days",
        "min_payout",
        "fraud_amount_threshold",
    }
)


def program_update(*, program: Program, changes: dict[str, Any], actor: str) -> Program:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationFailed(
            f"These program settings cannot be changed: {', '.join(sorted(unknown))}.",
            errors=[{"field": f, "message": "not editable"} for f in sorted(unknown)],
        )
    with transaction.atomic():
        locked = Program.objects.select_for_update().get(pk=program.pk)
        fields_update_audited(
            locked,
            changes,
            program=locked,
            actor=actor,
            action="program.updated",
            object_type="program",
            object_id=locked.slug,
        )
    return locked
