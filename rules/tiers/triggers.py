"""The tier history's append-only triggers on SQLite, re-created after every migrate.

SQLite rebuilds a table to alter it and the triggers go with the old one: a later migration
that alters tiers_tierchange would silently drop what migration 0002 made (PostgreSQL alters in
place and keeps them). Like ledger.migrations._sql.restore_sqlite_triggers, this runs on
post_migrate and is a no-op when the triggers are there (IF NOT EXISTS)."""

from __future__ import annotations

from typing import Any

from django.db import connections

# As in migrations/0002_tier_history_append_only.py (a migration keeps its own frozen copy).
SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS tiers_tierchange_no_update BEFORE UPDATE ON tiers_tierchange"
    " BEGIN SELECT RAISE(ABORT, 'UPDATE on tiers_tierchange is not allowed: rows are"
    " append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS tiers_tierchange_no_delete BEFORE DELETE ON tiers_tierchange"
    " BEGIN SELECT RAISE(ABORT, 'DELETE on tiers_tierchange is not allowed: rows are"
    " append-only'); END",
)


def sqlite_triggers_restore(sender: Any, using: str = "default", **kwargs: Any) -> None:
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        applied = cursor.execute(
            "SELECT 1 FROM django_migrations WHERE app = 'tiers' AND name = %s",
            ["0002_tier_history_append_only"],
        ).fetchone()
        if not applied:  # never migrated this far, or migrated back below it
            return
        for statement in SQLITE_TRIGGERS:
            cursor.execute(statement)
