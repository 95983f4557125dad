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
