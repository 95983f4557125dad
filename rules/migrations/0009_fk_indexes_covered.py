"""Drop the program FK indexes of referrals and reward links: the analytics indexes
(referral_program_time, rewardlink_program_time) lead with the program and cover them.

SQLite alters a column by rebuilding the table, which drops its triggers: the append-only
triggers of 0004 are created again after the change (both ways). PostgreSQL keeps them."""

from pathlib import Path

import django.db.models.deletion
import sqlparse
from django.db import migrations, models

HARDENING = Path(__file__).with_name("0004_hardening.sqlite.sql")


def _restore_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in sqlparse.split(HARDENING.read_text()):
        if "CREATE TRIGGER" in statement:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0012_analytics_indexes"),
        ("rules", "0008_attribution_coupons"),
    ]

    operations = [
        # on the way back, the triggers come back after the table rebuilds below
        migrations.RunPython(migrations.RunPython.noop, _restore_triggers),
        migrations.AlterField(
            model_name="referral",
            name="program",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="referrals",
                to="ledger.program",
            ),
        ),
        migrations.AlterField(
            model_name="rewardlink",
            name="program",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.program",
            ),
        ),
        migrations.RunPython(_restore_triggers, migrations.RunPython.noop),
    ]
