# Analytics (rules/links/analytics.py): the indexes its per-day sums and counts read.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0012_analytics_indexes"),
        ("rules", "0006_analytics"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="clickdaily",
            name="click_daily_program_day",
        ),
        migrations.AddIndex(
            model_name="clickdaily",
            index=models.Index(
                fields=["program", "day", "clicks", "unique_clicks"],
                name="click_daily_program_sums",
            ),
        ),
        migrations.AddIndex(
            model_name="clickdaily",
            index=models.Index(
                fields=["participant", "day", "clicks", "unique_clicks"],
                name="click_daily_partner_sums",
            ),
        ),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(fields=["program", "created_at"], name="referral_program_time"),
        ),
        migrations.AddIndex(
            model_name="rewardlink",
            index=models.Index(
                fields=["program", "occurred_at", "event"], name="rewardlink_program_time"
            ),
        ),
        migrations.AddIndex(
            model_name="rewardlink",
            index=models.Index(
                fields=["program", "beneficiary", "occurred_at", "event"],
                name="rewardlink_beneficiary_time",
            ),
        ),
    ]
