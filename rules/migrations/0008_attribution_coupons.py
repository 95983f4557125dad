"""Attribution (SPEC section 11): an event's attribution result, and coupon codes assigned to
participants. API clients may list and assign coupons; operators may read them."""

import django.db.models.deletion
import django.utils.timezone
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GRANTS = {
    "api clients": ["view_coupon", "add_coupon"],
    "operators": ["view_coupon"],
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
        ("ledger", "0012_analytics_indexes"),
        ("rules", "0007_analytics_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="attribution",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="Coupon",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.CharField(max_length=40)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "participant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="coupons",
                        to="rules.participant",
                    ),
                ),
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
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(fields=("program", "code"), name="coupon_code_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("code__regex", "\\A[A-Z0-9_-]{1,40}\\Z")),
                        name="coupon_code_format",
                    ),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
