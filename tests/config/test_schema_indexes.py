"""Every index of the project's tables earns its keep: each one costs every INSERT, and every
UPDATE that is not HOT, an entry of its own. A plain index whose columns begin another index is
redundant (a btree serves lookups by any leading columns of its key); Django creates one for
each ForeignKey unless told `db_index=False`, even where a unique constraint already leads with
that column."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

APPS = ("ledger", "rules", "builder")

REDUNDANT = """
SELECT t.relname, i.relname, o.relname
FROM pg_index a
JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
JOIN pg_class t ON t.oid = a.indrelid
JOIN pg_class i ON i.oid = a.indexrelid
JOIN pg_class o ON o.oid = b.indexrelid
JOIN pg_am m ON m.oid = i.relam AND m.amname = 'btree'
WHERE NOT a.indisunique
  AND a.indpred IS NULL AND a.indexprs IS NULL
  AND a.indnatts <= b.indnatts
  AND (string_to_array(b.indkey::text, ' '))[1:a.indnatts] = string_to_array(a.indkey::text, ' ')
  AND (string_to_array(b.indclass::text, ' '))[1:a.indnatts]
      = string_to_array(a.indclass::text, ' ')
  AND t.relname LIKE ANY (%s)
ORDER BY 1, 2
"""


def test_no_index_is_a_prefix_of_another():
    with connection.cursor() as cursor:
        cursor.execute(REDUNDANT, [[f"{app}\\_%" for app in APPS]])
        redundant = cursor.fetchall()
    assert redundant == [], "\n".join(
        f"{table}: {index} is covered by {other} (db_index=False on the field?)"
        for table, index, other in redundant
    )


def test_the_sweepers_queries_use_the_partial_queue_index():
    """event_status_due leaves processed events out; the sweeper's and the admin's queries
    (received, processing, failed) can still use it."""
    from django.utils import timezone

    from rules.models import Event

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for status in ("received", "processing", "failed"):
            queryset = Event.objects.filter(status=status, next_attempt_at__lte=now)
            assert "event_status_due" in queryset.explain(), status
