"""Fraud signals computed from participants. A signal does not refuse the reward: it books it
with a `hold_reason`, so the operator reviews it before it can be confirmed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rules.models import Participant, Referral, RuleProgramConfig

DEFAULT_MATCH_ATTRIBUTES = ("email", "device_id", "ip")


def _norm(value: Any) -> str:
    """An attribute as compared: text, trimmed, case-folded; missing is ""."""
    return "" if value is None else str(value).strip().lower()


def fraud_hold_reason(*, config: RuleProgramConfig, roles: dict[str, Participant]) -> str:
    """Why rewards for this event should be held ("" when nothing looks wrong):

    * self-referral by matching attributes: referrer and referred share an email, device or IP;
    * velocity: the referral that brought the user was one of more than N the referrer made
      within an hour (the program's `fraud_max_referrals_per_hour`; 0 turns it off).

    Both read only stored data, so re-processing an event decides the same way."""
    referred, referrer = roles.get("referred"), roles.get("referrer")
    if referred is None or referrer is None:
        return ""
    reasons = []
    for attr in config.fraud_match_attributes or DEFAULT_MATCH_ATTRIBUTES:
        mine = _norm(referred.attributes.get(attr))
        # Empty or blank is no evidence: two people who both left a field blank share nothing.
        if mine and mine == _norm(referrer.attributes.get(attr)):
            reasons.append(f"self-referral suspected: referrer and referred share {attr}")
    limit = config.fraud_max_referrals_per_hour
    if limit:
        referral = Referral.objects.filter(referred=referred).first()
        if referral is not None:
            burst = Referral.objects.filter(
                referrer=referrer,
                created_at__gt=referral.created_at - timedelta(hours=1),
                created_at__lte=referral.created_at,
            ).count()
            if burst > limit:
                reasons.append(
                    f"referral velocity: {burst} referrals within an hour (limit {limit})"
                )
    return "; ".join(reasons)
