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
    sql = (HERE / "0002_immutability.sqlite.sql").read_text()
    with connection.cursor() as cursor:
        tables = {
            row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "ledger_posting" not in tables:  # migrated backwards past the ledger
            return
        for statement in sqlparse.split(sql):
            if "CREATE TRIGGER" in statement:
                cursor.execute(statement)
