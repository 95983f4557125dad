"""Turning the database's rules off, as only a superuser can, to plant the discrepancies that
reconciliation must find (the rules themselves are tested in test_db_invariants / test_db_gaps)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection


@contextlib.contextmanager
def triggers_off() -> Iterator[None]:
    """PostgreSQL skips every trigger (and foreign-key check) in replica mode; SQLite has no
    such switch, so its triggers are dropped and re-created (inside a test's rolled-back
    transaction, the rollback would restore them too)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                yield
            finally:
                cursor.execute("SET session_replication_role = origin")
            return
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            for _, sql in triggers:
                cursor.execute(sql)
