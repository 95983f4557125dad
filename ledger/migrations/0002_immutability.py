from django.db import migrations

from ._sql import run_sql_files


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [run_sql_files("0002_immutability")]
