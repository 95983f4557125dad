"""Reads of referral links: what a short link points at, a participant's links."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import router
from django.db.models import QuerySet

from config.platform import rowsql
from config.platform.db import prepared_cursor
from config.platform.models import Program
from rules.links.models import Coupon, ReferralLink
from rules.models import Participant


@dataclass(frozen=True)
class LinkTarget:
    participant: Participant  # with its program loaded
    link: ReferralLink | None


@functools.cache
def _target_query(db: str, named: bool) -> tuple[str, list[rowsql.Columns]]:
    """The SQL of `Participant.objects.select_related("program").filter(referral_code=...)`
    (and, for a named link, of its ReferralLink by slug), built once per process: on the
    redirect, the busiest path, compiling the ORM query cost more than running it. It runs as a
    prepared statement (config.platform.db.prepared_cursor), planned once per connection."""
    parts = [rowsql.columns(Participant, "p", db), rowsql.columns(Program, "g", db)]
    joins = f" JOIN {Program._meta.db_table} g ON g.id = p.program_id"
    where = " WHERE p.referral_code = %s"
    if named:
        parts.append(rowsql.columns(ReferralLink, "l", db))
        joins += f" JOIN {ReferralLink._meta.db_table} l ON l.participant_id = p.id"
        where += " AND l.slug = %s"
    columns = [column for part in parts for column in part.sql]
    sql = f"SELECT {', '.join(columns)} FROM {Participant._meta.db_table} p{joins}{where}"
    return sql, parts


def link_target(*, code: str, slug: str | None) -> LinkTarget | None:
    """The participant (and named link) behind /r/{code}[/{slug}], in one statement; None when
    the code or slug is unknown. Codes are matched upper-cased (they are printed in capitals
    but may be shared in lower case), slugs lower-cased (they are stored so)."""
    db = router.db_for_read(Participant)
    sql, parts = _target_query(db, slug is not None)
    params = [code.upper()] if slug is None else [code.upper(), slug.lower()]
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    loaded = rowsql.split(row, parts, db)
    participant, program = loaded[0], loaded[1]
    assert isinstance(participant, Participant) and isinstance(program, Program)
    participant.program = program
    link = loaded[2] if slug is not None else None
    if not isinstance(link, ReferralLink):
        return LinkTarget(participant, None)
    link.participant = participant
    return LinkTarget(participant, link)


def referral_link_list(*, participant: Participant) -> QuerySet[ReferralLink]:
    return ReferralLink.objects.filter(participant=participant).select_related("participant")


def coupon_list(*, participant: Participant) -> QuerySet[Coupon]:
    return Coupon.objects.filter(participant=participant).order_by("-created_at", "-id")
