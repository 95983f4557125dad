"""Runs the raw SQL that sits beside a migration: `<name>.<vendor>.sql` forward and
`<name>.<vendor>.reverse.sql` backward (vendor: postgresql or sqlite)."""

from pathlib import Path

import sqlparse
from django.db import migrations

HERE = Path(__file__).parent


def _runner(name: str, reverse: bool):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        path = HERE / f"{name}.{vendor}{'.reverse' if reverse else ''}.sql"
        if not path.exists():
            raise RuntimeError(f"{path.name} is missing: no {vendor} variant of {name}")
        sql = path.read_text()
        if vendor == "postgresql":
            # PL/pgSQL bodies: send the file as one script, without parameter parsing ('%').
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)
        else:
            for statement in sqlparse.split(sql):
                if statement.strip().rstrip(";").strip():
                    schema_editor.execute(statement)

    return run


def run_sql_files(name: str) -> migrations.RunPython:
    return migrations.RunPython(_runner(name, False), _runner(name, True))


def restore_sqlite_triggers(sender, using: str = "default", **kwargs) -> None:
    """post_migrate: SQLite rebuilds a table to alter it (new table, copy, drop, rename), and the
    triggers go with the dropped table. Re-create the append-only triggers after every migrate
    (they are `CREATE TRIGGER IF NOT EXISTS`, so this is a no-op when they are there).
    PostgreSQL alters tables in place and keeps its triggers."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        tables = {
            row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "ledger_posting" not in tables:  # migrated backwards past the ledger
            return
        names = ["0002_immutability"]
        # 0009's four-eyes triggers, once the column they read exists (not below 0009).
        if "added_by" in {row[1] for row in cursor.execute("PRAGMA table_info(ledger_payoutitem)")}:
            names.append("0009_api_key_owner")
        # 0010's gap-closing triggers, unless migrated back below 0010.
        applied = "SELECT 1 FROM django_migrations WHERE app = 'ledger' AND name = %s"
        if cursor.execute(applied, ["0010_integrity_gaps"]).fetchone():
            names.append("0010_integrity_gaps")
        # 0015's payout item lifecycle, unless migrated back below it.
        if cursor.execute(applied, ["0015_payout_item_lifecycle"]).fetchone():
            names.append("0015_payout_item_lifecycle")
        for name in names:
            for statement in sqlparse.split((HERE / f"{name}.sqlite.sql").read_text()):
                if "CREATE TRIGGER" in statement:
                    cursor.execute(statement)
