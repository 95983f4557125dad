"""Referral links and clicks (SPEC section 11, rules/links/models.py). Referral codes become
unique across programs: /r/{referral_code} names no program. API clients may list and create
participants' links; operators may read them."""

import django.db.models.deletion
import django.utils.timezone
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

import rules.links.models

GRANTS = {
    "api clients": ["view_referrallink", "add_referrallink"],
    "operators": ["view_referrallink", "view_click", "view_clickdaily"],
}


def grant(apps, schema_editor):
    rules = apps.get_app_config("rules")
    rules.models_module = True
    create_permissions(rules, apps=apps, verbosity=0)
    rules.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="rules", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"permissions missing for {name}: {sorted(missing)}")
        group.permissions.add(*perms)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="rules", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0011_program_link_settings"),
        ("rules", "0004_hardening"),
        ("ledger", "0009_api_key_owner"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="Click",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=rules.links.models.click_id,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("visitor_hash", models.CharField(max_length=64)),
                ("referrer_host", models.CharField(blank=True, default="", max_length=255)),
                ("utm", models.JSONField(blank=True, default=dict)),
                ("is_bot", models.BooleanField(default=False)),
            ],
            options={
                "ordering": ["-at"],
            },
        ),
        migrations.CreateModel(
            name="ClickDaily",
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
                (
                    "unique_clicks",
                    models.PositiveIntegerField(
                        default=0, help_text="Distinct visitors among the clicks that are not bots"
                    ),
                ),
                ("bot_clicks", models.PositiveIntegerField(default=0)),
            ],
            options={
                "verbose_name": "daily clicks",
                "verbose_name_plural": "daily clicks",
                "ordering": ["-day"],
            },
        ),
        migrations.CreateModel(
            name="ReferralLink",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("slug", models.CharField(max_length=40)),
                (
                    "destination",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Empty: the program's landing URL",
                        max_length=2000,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.RemoveConstraint(
            model_name="participant",
            name="participant_referral_code_unique",
        ),
        migrations.AddConstraint(
            model_name="participant",
            constraint=models.UniqueConstraint(
                fields=("referral_code",), name="participant_referral_code_unique"
            ),
        ),
        migrations.AddField(
            model_name="click",
            name="participant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="clicks",
                to="rules.participant",
            ),
        ),
        migrations.AddField(
            model_name="click",
            name="program",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.program",
            ),
        ),
        migrations.AddField(
            model_name="clickdaily",
            name="participant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="rules.participant",
            ),
        ),
        migrations.AddField(
            model_name="clickdaily",
            name="program",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.program",
            ),
        ),
        migrations.AddField(
            model_name="referrallink",
            name="participant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="links",
                to="rules.participant",
            ),
        ),
        migrations.AddField(
            model_name="clickdaily",
            name="link",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="rules.referrallink",
            ),
        ),
        migrations.AddField(
            model_name="click",
            name="link",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="clicks",
                to="rules.referrallink",
            ),
        ),
        migrations.AddConstraint(
            model_name="referrallink",
            constraint=models.UniqueConstraint(
                fields=("participant", "slug"), name="referral_link_slug_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="referrallink",
            constraint=models.CheckConstraint(
                condition=models.Q(("slug__regex", "\\A[a-z0-9-]{1,40}\\Z")),
                name="referral_link_slug_format",
            ),
        ),
        migrations.AddIndex(
            model_name="clickdaily",
            index=models.Index(fields=["program", "day"], name="click_daily_program_day"),
        ),
        migrations.AddConstraint(
            model_name="clickdaily",
            constraint=models.UniqueConstraint(
                condition=models.Q(("link__isnull", False)),
                fields=("participant", "link", "day"),
                name="click_daily_link_day_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="clickdaily",
            constraint=models.UniqueConstraint(
                condition=models.Q(("link__isnull", True)),
                fields=("participant", "day"),
                name="click_daily_code_day_unique",
            ),
        ),
        migrations.AddIndex(
            model_name="click",
            index=models.Index(fields=["participant", "at"], name="click_participant_at"),
        ),
        migrations.RunPython(grant, revoke),
    ]
