"""The referral graph's one write: an edge referrer → referred, under the guards (no
self-referral, one referrer per participant, no cycles). rules.services.referrals (the API's
referrals) and rules.services.events (an event's attribution) both add edges through here."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from config.platform.audit import audit_record
from config.platform.models import Program
from rules.exceptions import AlreadyReferred, ReferralCycle, SelfReferral
from rules.models import Participant, Referral, RuleProgramConfig


def lock_program_graph(program: Program) -> None:
    """Serialise referral creation per program. A cycle can close through edges that
    concurrent requests add at the same time (A→B while B→A); checking the chain under one
    lock makes that impossible, and referral creation is cheap enough to queue."""
    RuleProgramConfig.objects.get_or_create(program=program)
    RuleProgramConfig.objects.select_for_update().filter(program=program).get()


def ancestors(participant: Participant) -> list[int]:
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


def referral_link(
    *, program: Program, referrer: Participant, referred: Participant, actor: str
) -> Referral:
    """Add the edge; the caller holds lock_program_graph in its transaction. Raises
    SelfReferral, AlreadyReferred or ReferralCycle."""
    if referrer.pk == referred.pk:
        raise SelfReferral(f"{referred.external_id!r} cannot refer themselves.")
    if Referral.objects.filter(referred=referred).exists():
        raise AlreadyReferred(f"{referred.external_id!r} already has a referrer.")
    if referred.pk in ancestors(referrer):
        raise ReferralCycle(
            f"{referrer.external_id!r} is in {referred.external_id!r}'s downline; the referral "
            "would create a cycle."
        )
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                program=program, referrer=referrer, referred=referred
            )
    except IntegrityError:
        raise AlreadyReferred(f"{referred.external_id!r} already has a referrer.") from None
    audit_record(
        program=program,
        actor=actor,
        action="referral.created",
        object_type="referral",
        object_id=referral.pk,
        after={"referrer": referrer.external_id, "referred": referred.external_id},
    )
    return referral
