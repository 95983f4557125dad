from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0009_api_key_owner"),
    ]

    operations: list = []
