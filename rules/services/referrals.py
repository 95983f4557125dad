"""Referrals: one referrer per participant, no self-referral, no cycles."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from config.platform.audit import audit_record
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from rules.exceptions import AlreadyReferred, ReferralCycle, SelfReferral
from rules.models import Participant, Referral, RuleProgramConfig
from rules.services.events import SYSTEM_EVENT_ID_PREFIX, event_ingest
from rules.services.participants import participant_get_or_create

REFERRAL_EVENT = "referral_created"


def _lock_program_graph(program: Program) -> None:
    """Serialise referral creation per program. A cycle can close through edges that
    concurrent requests add at the same time (A→B while B→A); checking the chain under one
    lock makes that impossible, and referral creation is cheap enough to queue."""
    RuleProgramConfig.objects.get_or_create(program=program)
    RuleProgramConfig.objects.select_for_update().filter(program=program).get()


def _ancestors(participant: Participant) -> list[int]:
    """Walk up one referral at a time: chains are short, programs may be large."""
    chain = [participant.pk]
    current = participant.pk
    seen = {current}
    while True:
        parent = (
            Referral.objects.filter(referred_id=current)
            .values_list("referrer_id", flat=True)
            .first()
        )
        if parent is None or parent in seen:
            return chain
        chain.append(parent)
        seen.add(parent)
        current = parent


def referral_create(
    *,
    program: Program,
    referred: str,
    referrer: str | None = None,
    referral_code: str | None = None,
    actor: str,
) -> Referral:
    """Link `referred` to a referrer named by external id or referral code. Unknown
    participants are created. Emits the internal `referral_created` event for rules."""
    if bool(referrer) == bool(referral_code):
        raise ValidationFailed(
            "Name the referrer by exactly one of 'referrer' or 'referral_code'.",
            errors=[{"field": "referrer", "message": "give referrer or referral_code"}],
        )
    with transaction.atomic():
        _lock_program_graph(program)
        if referral_code:
            referrer_p = Participant.objects.filter(
                program=program, referral_code=referral_code.strip().upper()
            ).first()
            if referrer_p is None:
                raise ValidationFailed(
                    f"No participant has the referral code {referral_code!r}.",
                    errors=[{"field": "referral_code", "message": "unknown referral code"}],
                )
        else:
            assert referrer is not None
            if referrer == referred:
                raise SelfReferral(f"{referred!r} cannot refer themselves.")
            referrer_p, _ = participant_get_or_create(
                program=program, external_id=referrer, actor=actor
            )
        if referrer_p.external_id == referred:
            raise SelfReferral(f"{referred!r} cannot refer themselves.")
        referred_p, _ = participant_get_or_create(
            program=program, external_id=referred, actor=actor
        )
        if Referral.objects.filter(referred=referred_p).exists():
            raise AlreadyReferred(f"{referred!r} already has a referrer.")
        if referred_p.pk in _ancestors(referrer_p):
            raise ReferralCycle(
                f"{referrer_p.external_id!r} is in {referred!r}'s downline; the referral would "
                "create a cycle."
            )
        try:
            with transaction.atomic():
                referral = Referral.objects.create(
                    program=program, referrer=referrer_p, referred=referred_p
                )
        except IntegrityError:
            raise AlreadyReferred(f"{referred!r} already has a referrer.") from None
        audit_record(
            program=program,
            actor=actor,
            action="referral.created",
            object_type="referral",
            object_id=referral.pk,
            after={"referrer": referrer_p.external_id, "referred": referred},
        )
        # Deterministic id: a participant is referred at most once.
        event_ingest(
            program=program,
            event_id=f"{SYSTEM_EVENT_ID_PREFIX}{referred}",
            type=REFERRAL_EVENT,
            user=referred,
            occurred_at=referral.created_at,
            data={"referrer": referrer_p.external_id, "referral_code": referrer_p.referral_code},
            actor=actor,
            system=True,
        )
    return referral
