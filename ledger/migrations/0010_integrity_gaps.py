"""Issue 11: the database closes its remaining gaps (the `.sql` files beside this one, forward
and reverse, for PostgreSQL and SQLite): postings in their account's currency and only into a
transaction of the same database transaction; owned transactions move only through their owner;
no DELETE on the records money depends on, UPDATE only of the columns a lifecycle moves; a
balance check at commit that is linear in the postings, and at most 500 postings."""

from django.db import migrations

from ._sql import run_sql_files


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0009_api_key_owner"),
    ]

    operations = [run_sql_files("0010_integrity_gaps")]
