"""Integration settings per program and provider (SPEC section 13): the signing secret is
encrypted at rest and never returned; changes are audited without it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.crypto import secret_decrypt, secret_encrypt
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from rules.billing.models import Integration
from rules.billing.selectors import provider_require

EVENT_KINDS = ("purchase", "subscription_started", "subscription_renewed", "refund")
METADATA_KEYS = ("client_reference_id", "click_id", "referral_code", "participant")


def secret_hint(secret: str) -> str:
    """Enough to recognise which secret is set ("••••a1b2"), never enough to use it."""
    return "••••" + secret[-4:] if len(secret) >= 12 else "••••"


def mapping_validate(mapping: Any) -> dict[str, Any]:
    """`{"event_types": {"purchase": "order_paid", ...}, "metadata_keys": {"click_id":
    "rl_click", ...}}`: both optional; the names a rule's trigger and the keys the checkout's
    metadata uses when they differ from the defaults."""
    if not isinstance(mapping, dict):
        raise ValidationFailed(
            "mapping is an object.", errors=[{"field": "mapping", "message": "not an object"}]
        )
    errors = []
    for key in mapping:
        if key not in ("event_types", "metadata_keys"):
            errors.append({"field": f"mapping.{key}", "message": "unknown key"})
    for key, allowed in (("event_types", EVENT_KINDS), ("metadata_keys", METADATA_KEYS)):
        value = mapping.get(key, {})
        if not isinstance(value, dict):
            errors.append({"field": f"mapping.{key}", "message": "not an object"})
            continue
        for name, target in value.items():
            if name not in allowed:
                errors.append(
                    {"field": f"mapping.{key}.{name}", "message": f"one of {', '.join(allowed)}"}
                )
            elif not isinstance(target, str) or not 1 <= len(target) <= 100:
                errors.append(
                    {"field": f"mapping.{key}.{name}", "message": "a string of 1-100 characters"}
                )
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    return mapping


def _state(integration: Integration) -> dict[str, Any]:
    return {
        "secret_hint": integration.secret_hint,
        "refund_policy": integration.refund_policy,
        "mapping": integration.mapping,
        "active": integration.active,
    }


def integration_put(
    *,
    program: Program,
    provider: str,
    signing_secret: str | None,
    refund_policy: str | None = None,
    mapping: dict[str, Any] | None = None,
    active: bool | None = None,
    actor: str,
) -> tuple[Integration, bool]:
    """Create or replace the program's integration with `provider`; a missing secret keeps the
    stored one (a new integration needs one). Audited as `billing.integration.updated` (or
    `.created`) with before and after, the secret only as its hint."""
    provider_require(provider)
    if refund_policy is not None and refund_policy not in Integration.RefundPolicy.values:
        raise ValidationFailed(
            f"refund_policy is one of {', '.join(Integration.RefundPolicy.values)}.",
            errors=[{"field": "refund_policy", "message": "unknown policy"}],
        )
    if signing_secret is not None and not (8 <= len(signing_secret.strip()) <= 500):
        raise ValidationFailed(
            "signing_secret is 8-500 characters.",
            errors=[{"field": "signing_secret", "message": "8-500 characters"}],
        )
    mapping = mapping_validate(mapping if mapping is not None else {})
    with transaction.atomic():
        integration = (
            Integration.objects.select_for_update()
            .filter(program=program, provider=provider)
            .first()
        )
        created = integration is None
        if integration is None:
            if not signing_secret:
                raise ValidationFailed(
                    "A new integration needs its signing_secret.",
                    errors=[{"field": "signing_secret", "message": "required"}],
                )
            integration = Integration(program=program, provider=provider)
            before = None
        else:
            before = _state(integration)
        if signing_secret:
            secret = signing_secret.strip()
            integration.signing_secret_encrypted = secret_encrypt(secret)
            integration.secret_hint = secret_hint(secret)
        integration.refund_policy = refund_policy or Integration.RefundPolicy.REVERSE_OR_CLAWBACK
        integration.mapping = mapping
        if active is not None:
            integration.active = active
        integration.updated_at = timezone.now()
        integration.save()
        after = _state(integration)
        if signing_secret and before is not None and before["secret_hint"]:
            after["secret_changed"] = True
        audit_record(
            program=program,
            actor=actor,
            action="billing.integration.created" if created else "billing.integration.updated",
            object_type="billing_integration",
            object_id=f"{program.slug}:{provider}",
            before=before,
            after=after,
        )
    return integration, created


def integration_secret(integration: Integration) -> str:
    return secret_decrypt(integration.signing_secret_encrypted)
