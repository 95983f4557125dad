"""Reused reads of the platform: the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db.models import Q, QuerySet

from config.db_router import replica_alias
from config.platform.models import AuditEntry, Program

# The audit entry fields a reader can match exactly.
AUDIT_EXACT_FILTERS = ("action", "object_type", "object_id", "actor")


def audit_entry_list(
    *,
    program: Program,
    match: Mapping[str, str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The program's audit entries: `match` maps fields of AUDIT_EXACT_FILTERS to the value
    they must have; `since` keeps the entries at or after, `until` those before."""
    match = match or {}
    unknown = set(match) - set(AUDIT_EXACT_FILTERS)
    if unknown:
        raise ValueError(f"Not an exact audit filter: {', '.join(sorted(unknown))}")
    qs = AuditEntry.objects.using(replica_alias()).filter(program=program, **match)
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return qs


# Keys of an audit entry's before/after that name a participant (their external id): a
# reward's or payout item's beneficiary, an event's user, a referral's two sides.
AUDIT_PARTICIPANT_KEYS = ("beneficiary", "user", "referrer", "referred")


def audit_about_participant(external_id: str) -> Q:
    """The audit entries about a participant: their own (participant.created, ...) and those
    naming them in `after` (SPEC §8's entries record the external id, never a row id)."""
    about = Q(object_type="participant", object_id=external_id)
    for key in AUDIT_PARTICIPANT_KEYS:
        about |= Q(**{f"after__{key}": external_id})
    return about


def audit_entry_list_about(*, program: Program, external_id: str) -> QuerySet[AuditEntry]:
    """The program's audit entries about one participant, newest first."""
    return AuditEntry.objects.filter(audit_about_participant(external_id), program=program)
