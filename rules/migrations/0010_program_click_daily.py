"""The per-program daily click roll-up (rules.links.models.ProgramClickDaily), filled from the
per-partner roll-ups already there; the roll-up job keeps it from then on."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Sum


def _backfill(apps, schema_editor):
    ClickDaily = apps.get_model("rules", "ClickDaily")
    ProgramClickDaily = apps.get_model("rules", "ProgramClickDaily")
    sums = (
        ClickDaily.objects.values("program_id", "day")
        .annotate(c=Sum("clicks"), u=Sum("unique_clicks"), b=Sum("bot_clicks"))
        .order_by()
    )
    ProgramClickDaily.objects.bulk_create(
        (
            ProgramClickDaily(
                program_id=row["program_id"],
                day=row["day"],
                clicks=row["c"] or 0,
                unique_clicks=row["u"] or 0,
                bot_clicks=row["b"] or 0,
            )
            for row in sums.iterator()
        ),
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0012_analytics_indexes"),
        ("rules", "0009_fk_indexes_covered"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProgramClickDaily",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                (
                    "clicks",
                    models.PositiveIntegerField(default=0, help_text="Clicks that are not bots"),
                ),
                ("unique_clicks", models.PositiveIntegerField(default=0)),
                ("bot_clicks", models.PositiveIntegerField(default=0)),
                (
                    "program",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.program",
                    ),
                ),
            ],
            options={
                "verbose_name": "daily program clicks",
                "verbose_name_plural": "daily program clicks",
                "ordering": ["-day"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("program", "day"), name="program_click_daily_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(_backfill, migrations.RunPython.noop),
    ]
