# Analytics (rules/links/analytics.py): rewards created per day and status, with amounts.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0011_program_link_settings"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="reward",
            index=models.Index(
                fields=["program", "created_at", "status", "amount"], name="reward_program_created"
            ),
        ),
    ]
