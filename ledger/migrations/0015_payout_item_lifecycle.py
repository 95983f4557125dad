"""Issue 14 (attack review): a payout item's status and return transfer move only along its
lifecycle, in the database too (the `.sql` files beside this one, PostgreSQL and SQLite)."""

from django.db import migrations

from ._sql import run_sql_files


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0014_payout_fk_indexes_covered"),
    ]

    operations = [run_sql_files("0015_payout_item_lifecycle")]
