"""Reads of referral links: what a short link points at, a participant's links."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from rules.links.models import ReferralLink
from rules.models import Participant


@dataclass(frozen=True)
class LinkTarget:
    participant: Participant  # with its program loaded
    link: ReferralLink | None


def link_target(*, code: str, slug: str | None) -> LinkTarget | None:
    """The participant (and named link) behind /r/{code}[/{slug}], in one query; None when the
    code or slug is unknown. Codes are matched as typed and upper-cased (they are printed in
    capitals but may be shared in lower case)."""
    code = code.upper()
    if slug is None:
        participant = (
            Participant.objects.select_related("program").filter(referral_code=code).first()
        )
        return LinkTarget(participant, None) if participant is not None else None
    link = (
        ReferralLink.objects.select_related("participant__program")
        .filter(participant__referral_code=code, slug=slug)
        .first()
    )
    return LinkTarget(link.participant, link) if link is not None else None


def referral_link_list(*, participant: Participant) -> QuerySet[ReferralLink]:
    return ReferralLink.objects.filter(participant=participant).select_related("participant")
