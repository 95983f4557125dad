"""An audit entry's object_id holds any id the API accepts: event ids and participants'
external ids are up to 255 characters, and a longer one than the old 100 made the write fail
(a 500 on POST P/events and P/events/batch on PostgreSQL). PostgreSQL widens a varchar in
place (no rewrite, triggers kept); SQLite rebuilds the table and the append-only triggers are
restored after migrate (ledger.migrations._sql.restore_sqlite_triggers)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0015_payout_item_lifecycle"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="object_id",
            field=models.CharField(max_length=255),
        ),
    ]
