from pathlib import Path

import sqlparse
from django.db import migrations, models

HERE = Path(__file__).parent


def _sql_files(reverse: bool):
    """Runs `0004_hardening.<vendor>[.reverse].sql` beside this file (as ledger's _sql does)."""

    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        sql = (HERE / f"0004_hardening.{vendor}{'.reverse' if reverse else ''}.sql").read_text()
        if vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)
        else:
            for statement in sqlparse.split(sql):
                if statement.strip().rstrip(";").strip():
                    schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0003_leaner_indexes"),
        ("ledger", "0010_integrity_gaps"),
    ]

    operations = [
        # A participant id is one segment of an account code (user:{id}:rewards), or the ledger
        # can never pay them. Fails on a database holding such an id: rename it first.
        migrations.AddConstraint(
            model_name="participant",
            constraint=models.CheckConstraint(
                condition=models.Q(("external_id__regex", "\\A[A-Za-z0-9_.@-]{1,200}\\Z")),
                name="participant_external_id_payable",
            ),
        ),
        # Rule versions and reward links append-only, events never deleted and changed only in
        # their processing state (issue 11, item 5): the .sql files beside this one.
        migrations.RunPython(_sql_files(False), _sql_files(True)),
    ]
