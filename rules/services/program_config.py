"""Changing a program's rules settings (fraud velocity, fraud match attributes, custom
triggers, two-person publishing), audited like every change: the admin's "rules settings" page calls this."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from config.platform.audit import fields_update_audited
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from rules.catalog import custom_catalog_errors
from rules.models import RuleProgramConfig

EDITABLE = frozenset(
    {
        "custom_catalog",
        "fraud_max_referrals_per_hour",
        "fraud_match_attributes",
        "rules_publish_requires_approval",
    }
)
# The velocity check counts referrals per hour in one query; beyond this it is not a limit.
MAX_REFERRALS_PER_HOUR = 1_000_000


def rules_config_errors(changes: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with these changes (empty when they may be saved)."""
    errors = [
        {"field": f, "message": "not a rules setting"} for f in sorted(set(changes) - EDITABLE)
    ]
    if "fraud_max_referrals_per_hour" in changes:
        limit = changes["fraud_max_referrals_per_hour"]
        if type(limit) is not int or not 0 <= limit <= MAX_REFERRALS_PER_HOUR:
            errors.append(
                {
                    "field": "fraud_max_referrals_per_hour",
                    "message": f"an integer from 0 (off) to {MAX_REFERRALS_PER_HOUR}",
                }
            )
    if "fraud_match_attributes" in changes:
        attrs = changes["fraud_match_attributes"]
        if not isinstance(attrs, list) or not all(
            isinstance(a, str) and a.strip() and len(a) <= 100 for a in attrs
        ):
            errors.append(
                {
                    "field": "fraud_match_attributes",
                    "message": "a list of attribute names (empty: the default email, "
                    "device_id, ip)",
                }
            )
    if "rules_publish_requires_approval" in changes and not isinstance(
        changes["rules_publish_requires_approval"], bool
    ):
        errors.append({"field": "rules_publish_requires_approval", "message": "true or false"})
    if "custom_catalog" in changes:
        errors += [
            {"field": "custom_catalog", "message": m}
            for m in custom_catalog_errors(changes["custom_catalog"])
        ]
    return errors


def rules_config_update(
    *, program: Program, changes: dict[str, Any], actor: str, reason: str = ""
) -> RuleProgramConfig:
    """Change a program's rules settings; the changed ones (only) reach the audit log with
    their values before and after, in the same database transaction as the change."""
    errors = rules_config_errors(changes)
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    with transaction.atomic():
        RuleProgramConfig.objects.get_or_create(program=program)
        locked = RuleProgramConfig.objects.select_for_update().get(program=program)
        fields_update_audited(
            locked,
            changes,
            program=program,
            actor=actor,
            action="rules_config.updated",
            object_type="rules_config",
            object_id=program.slug,
            reason=reason,
        )
    return locked
