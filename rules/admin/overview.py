"""What the operator's page of a participant reads (rules/admin/participants.py): their money,
rewards, referrer and downline, links and clicks, events, payouts and audit entries, each as
the few newest rows and a count. Reads only; the money comes from the same selectors as the API
(`user_balance`), the clicks from the daily roll-ups, never the raw clicks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet, Sum

from config.platform.models import AuditEntry
from config.platform.selectors import audit_entry_list_about
from rules.links.models import ClickDaily, ReferralLink
from rules.links.selectors import referral_link_list
from rules.models import Event, Participant, Referral
from rules.rewards.models import PayoutItem
from rules.rewards.selectors import reward_list, user_balance

# Rows per section; the section links to the whole filtered list.
NEWEST = 10


@dataclass(frozen=True)
class Rows:
    """A section's newest rows and how many there are in all."""

    rows: list[Any]
    count: int


def _newest(qs: QuerySet) -> Rows:
    return Rows(list(qs[:NEWEST]), qs.count())


@dataclass(frozen=True)
class LinkClicks:
    """A link (None: the plain /r/{code}) and its clicks from the roll-ups."""

    link: ReferralLink | None
    clicks: int
    unique_clicks: int
    bot_clicks: int


def participant_referrer(*, participant: Participant) -> Referral | None:
    """The referral that brought the participant in (with the referrer), if any."""
    return Referral.objects.filter(referred=participant).select_related("referrer").first()


def participant_downline(*, participant: Participant) -> Rows:
    """The people the participant referred, newest first."""
    return _newest(Referral.objects.filter(referrer=participant).select_related("referred"))


def participant_rewards(*, participant: Participant) -> Rows:
    qs = reward_list(program=participant.program, beneficiary=participant.external_id)
    return _newest(qs.order_by("-created_at", "-id"))


def participant_events(*, participant: Participant) -> Rows:
    return _newest(Event.objects.filter(participant=participant).order_by("-occurred_at", "-id"))


def participant_payout_items(*, participant: Participant) -> Rows:
    """The participant's payout items (one per batch), newest batch first."""
    qs = (
        PayoutItem.objects.filter(
            batch__program=participant.program, beneficiary=participant.external_id
        )
        .select_related("batch")
        .order_by("-batch__created_at", "-id")
    )
    return _newest(qs)


def participant_audit_entries(*, participant: Participant) -> Rows:
    qs: QuerySet[AuditEntry] = audit_entry_list_about(
        program=participant.program, external_id=participant.external_id
    )
    return _newest(qs.select_related("program"))


def participant_link_clicks(*, participant: Participant) -> list[LinkClicks]:
    """The plain code link first, then each named link, with their clicks (bots apart),
    unique visitors and bot clicks over the kept roll-ups."""
    totals: dict[int | None, Any] = {
        row["link_id"]: row
        for row in ClickDaily.objects.filter(participant=participant)
        .values("link_id")
        .annotate(c=Sum("clicks"), u=Sum("unique_clicks"), b=Sum("bot_clicks"))
    }

    def of(link: ReferralLink | None) -> LinkClicks:
        row = totals.get(link.pk if link else None) or {}
        return LinkClicks(
            link, int(row.get("c") or 0), int(row.get("u") or 0), int(row.get("b") or 0)
        )

    return [of(None), *(of(link) for link in referral_link_list(participant=participant))]


def participant_overview(*, participant: Participant) -> dict[str, Any]:
    """Everything the participant's page shows, keyed by section."""
    program = participant.program
    return {
        "balance": user_balance(program=program, external_id=participant.external_id),
        "rewards": participant_rewards(participant=participant),
        "referrer": participant_referrer(participant=participant),
        "downline": participant_downline(participant=participant),
        "links": participant_link_clicks(participant=participant),
        "events": participant_events(participant=participant),
        "payouts": participant_payout_items(participant=participant),
        "audit": participant_audit_entries(participant=participant),
    }
