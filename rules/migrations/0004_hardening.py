from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0003_leaner_indexes"),
        ("ledger", "0010_integrity_gaps"),
    ]

    operations: list = []
