"""Reused reads of the platform: the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db.models import QuerySet

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
    qs = AuditEntry.objects.filter(program=program, **match)
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return qs
