"""Reads of a participant's clicks for the partner portal (SPEC section 12), from the daily
roll-ups (never the raw clicks), and of one of their links by id. Selectors: they read and
write nothing. (Kept beside rules/links/selectors.py, which holds the redirect's hot read.)"""

from __future__ import annotations

from datetime import date

from django.db.models import Sum

from config.db_router import replica_alias
from rules.links.models import ClickDaily, ReferralLink
from rules.models import Participant


def clicks_by_day(*, participant: Participant, since: date) -> dict[date, int]:
    """{UTC date: clicks (bots apart)} on all the participant's links from `since` on."""
    rows = (
        ClickDaily.objects.using(replica_alias())
        .filter(participant=participant, day__gte=since)
        .values("day")
        .annotate(n=Sum("clicks"))
        .values_list("day", "n")
    )
    return {day: int(n or 0) for day, n in rows}


def link_clicks(*, participant: Participant) -> dict[int | None, int]:
    """{link id (None: the plain code link): clicks (bots apart) ever}."""
    rows = (
        ClickDaily.objects.filter(participant=participant)
        .values("link_id")
        .annotate(n=Sum("clicks"))
        .values_list("link_id", "n")
    )
    return {link_id: int(n or 0) for link_id, n in rows}


def referral_link_of(*, participant: Participant, pk: int) -> ReferralLink | None:
    """The participant's named link by id; None for another participant's."""
    return ReferralLink.objects.filter(participant=participant, pk=pk).first()
