"""Changing a program's settings (the admin's program page and PATCH P), audited like every
change. The referral-link settings (SPEC section 11) are checked here, for both doors: a landing
URL must be https outside DEBUG and on the program's allowed domains, the domains plain host
names (stored as browsers compare them: lower case, punycode), the window 1-365 days."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from config.platform.audit import fields_update_audited
from config.platform.destinations import (
    destination_normalized,
    domain_normalized,
    url_problem,
)
from config.platform.exceptions import ValidationFailed
from config.platform.models import AttributionModel, PartnerSignup, PayoutSchedule, Program

MAX_ALLOWED_DOMAINS = 50

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
        "landing_url",
        "allowed_domains",
        "attribution_window_days",
        "attribution_model",
        "partner_signup",
        "payout_schedule",
        "payout_delay_days",
    }
)
MAX_PAYOUT_DELAY_DAYS = 27  # a monthly draft is made inside its month


def _domain(raw: object, https_only: bool) -> str | None:
    """A host name, or an origin written as a URL ("https://shop.example.com")."""
    if isinstance(raw, str) and "://" in raw:
        scheme, _, rest = raw.partition("://")
        if scheme.lower() not in ("https", "http") or (https_only and scheme.lower() != "https"):
            return None
        raw = rest[:-1] if rest.endswith("/") else rest
    return domain_normalized(raw)


def links_settings_checked(program: Program, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with the referral-link settings normalised; ValidationFailed listing every
    bad one. The landing URL is checked against the domains the change leaves."""
    https_only = not settings.DEBUG
    checked = dict(changes)
    errors: list[dict[str, str]] = []
    if "allowed_domains" in changes:
        raw = changes["allowed_domains"]
        if not isinstance(raw, list) or len(raw) > MAX_ALLOWED_DOMAINS:
            errors.append(
                {
                    "field": "allowed_domains",
                    "message": f"a list of at most {MAX_ALLOWED_DOMAINS} host names",
                }
            )
        else:
            domains = [_domain(d, https_only) for d in raw]
            for index, (given, domain) in enumerate(zip(raw, domains, strict=True)):
                if domain is None:
                    errors.append(
                        {
                            "field": f"allowed_domains[{index}]",
                            "message": f"{given!r} is not a host name"
                            + (" (https only)" if https_only else ""),
                        }
                    )
            checked["allowed_domains"] = list(dict.fromkeys(d for d in domains if d))
    if changes.get("landing_url"):
        problem = url_problem(changes["landing_url"], https_only=https_only)
        if problem:
            errors.append({"field": "landing_url", "message": problem})
    if not errors:
        landing = checked.get("landing_url", program.landing_url)
        domains = checked.get("allowed_domains", program.allowed_domains)
        if landing:
            normalized = destination_normalized(landing, domains, https_only=https_only)
            if normalized is None:
                field = "landing_url" if "landing_url" in changes else "allowed_domains"
                errors.append(
                    {"field": field, "message": "the landing URL's host must be on allowed_domains"}
                )
            elif "landing_url" in changes:
                checked["landing_url"] = normalized
    window = changes.get("attribution_window_days", 1)
    if type(window) is not int or not 1 <= window <= 365:
        errors.append({"field": "attribution_window_days", "message": "a whole number, 1 to 365"})
    delay = changes.get("payout_delay_days", 0)
    if type(delay) is not int or not 0 <= delay <= MAX_PAYOUT_DELAY_DAYS:
        errors.append(
            {
                "field": "payout_delay_days",
                "message": f"a whole number, 0 to {MAX_PAYOUT_DELAY_DAYS}",
            }
        )
    for field, choices in (
        ("attribution_model", AttributionModel.values),
        ("partner_signup", PartnerSignup.values),
        ("payout_schedule", PayoutSchedule.values),
    ):
        if field in changes and changes[field] not in choices:
            errors.append({"field": field, "message": f"one of {', '.join(choices)}"})
    if errors:
        raise ValidationFailed("Invalid program settings.", errors=errors)
    return checked


def program_update(*, program: Program, changes: dict[str, Any], actor: str) -> Program:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationFailed(
            f"These program settings cannot be changed: {', '.join(sorted(unknown))}.",
            errors=[{"field": f, "message": "not editable"} for f in sorted(unknown)],
        )
    with transaction.atomic():
        locked = Program.objects.select_for_update().get(pk=program.pk)
        changes = links_settings_checked(locked, changes)
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
