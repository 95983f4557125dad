"""Reads of the portal's own records (who a signed-in user is a partner of). The portal reads
the domain through rules.selectors, rules.links.selectors and rules.rewards.selectors."""

from __future__ import annotations

from typing import Any

from builder.portal.models import PartnerAccount, PartnerApplication
from config.platform.models import Program
from rules.models import Participant


def partner_account_for_user(user: Any) -> PartnerAccount | None:
    """The partner account of a signed-in user, with its participant and program; None for an
    anonymous user, a staff user (staff are never partners) or a user without one."""
    if not getattr(user, "is_authenticated", False) or user.is_staff or user.is_superuser:
        return None
    return (
        PartnerAccount.objects.select_related("participant__program", "user")
        .filter(user=user)
        .first()
    )


def partner_account_of(participant: Participant) -> PartnerAccount | None:
    return PartnerAccount.objects.select_related("user").filter(participant=participant).first()


def program_by_slug(slug: str) -> Program | None:
    return Program.objects.filter(slug=slug).first()


def application_pending(*, program: Program, email: str) -> PartnerApplication | None:
    return PartnerApplication.objects.filter(
        program=program, email__iexact=email, status=PartnerApplication.Status.PENDING
    ).first()
