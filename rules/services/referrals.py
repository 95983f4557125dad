"""Referrals: one referrer per participant, no self-referral, no cycles. The referrer is
named by external id, referral code, click id or coupon (rules.links.attribution)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from rules.exceptions import SelfReferral
from rules.links import attribution
from rules.models import Participant, Referral
from rules.services.events import referral_event_ingest
from rules.services.participants import participant_get_or_create
from rules.services.referral_graph import lock_program_graph, referral_link

NAMING_FIELDS = ("referrer", "referral_code", "click_id", "coupon")


def _referrer_by_code(program: Program, referral_code: str) -> Participant:
    referrer = Participant.objects.filter(
        program=program, referral_code=referral_code.strip().upper()
    ).first()
    if referrer is None:
        raise ValidationFailed(
            f"No participant has the referral code {referral_code!r}.",
            errors=[{"field": "referral_code", "message": "unknown referral code"}],
        )
    return referrer


def _referrer_attributed(
    program: Program, referred: str, click_id: str | None, coupon: str | None
) -> Participant:
    result = attribution.resolve(
        program=program, user=referred, at=timezone.now(), click_id=click_id, coupon=coupon
    )
    if result.status == attribution.SELF:
        raise SelfReferral(f"{referred!r} cannot refer themselves ({result.reason})")
    if result.referrer is None:
        field = "coupon" if coupon else "click_id"
        raise ValidationFailed(
            result.reason, errors=[{"field": field, "message": f"{result.status} {field}"}]
        )
    return result.referrer


def referral_create(
    *,
    program: Program,
    referred: str,
    referrer: str | None = None,
    referral_code: str | None = None,
    click_id: str | None = None,
    coupon: str | None = None,
    actor: str,
) -> Referral:
    """Link `referred` to a referrer named by exactly one of external id, referral code,
    click id or coupon. Unknown participants are created. Emits the internal
    `referral_created` event for rules."""
    given = [v for v in (referrer, referral_code, click_id, coupon) if v]
    if len(given) != 1:
        raise ValidationFailed(
            "Name the referrer by exactly one of 'referrer', 'referral_code', 'click_id' or "
            "'coupon'.",
            errors=[
                {"field": "referrer", "message": "give exactly one of " + ", ".join(NAMING_FIELDS)}
            ],
        )
    if referrer is not None and referrer == referred:
        raise SelfReferral(f"{referred!r} cannot refer themselves.")
    with transaction.atomic():
        lock_program_graph(program)
        if referral_code:
            referrer_p = _referrer_by_code(program, referral_code)
        elif click_id or coupon:
            referrer_p = _referrer_attributed(program, referred, click_id, coupon)
        else:
            assert referrer is not None
            referrer_p, _ = participant_get_or_create(
                program=program, external_id=referrer, actor=actor
            )
        if referrer_p.external_id == referred:
            raise SelfReferral(f"{referred!r} cannot refer themselves.")
        referred_p, _ = participant_get_or_create(
            program=program, external_id=referred, actor=actor
        )
        referral = referral_link(
            program=program, referrer=referrer_p, referred=referred_p, actor=actor
        )
        referral_event_ingest(referral, actor=actor)
    return referral
