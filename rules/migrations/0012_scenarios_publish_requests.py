"""Saved test scenarios of a rule and two-person publishing (issue 15): the models, the
program flag, and the rule authors' grants on the new models (the API itself checks the
rule's view/change permissions)."""

import django.db.models.deletion
import django.utils.timezone
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GRANTS = {
    "rule authors": [
        "view_rulescenario",
        "add_rulescenario",
        "change_rulescenario",
        "delete_rulescenario",
        "view_rulepublishrequest",
    ],
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
        ("rules", "0011_participant_tier"),
    ]

    operations = [
        migrations.AddField(
            model_name="ruleprogramconfig",
            name="rules_publish_requires_approval",
            field=models.BooleanField(
                default=False,
                help_text="Publishing a rule needs a second person: a publish makes a request that someone other than its requester approves",
            ),
        ),
        migrations.CreateModel(
            name="RulePublishRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                            ("superseded", "Superseded"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("requested_by", models.CharField(max_length=255)),
                ("decided_by", models.CharField(blank=True, max_length=255)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("reason", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="publish_requests",
                        to="rules.rule",
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rules.ruleversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status", "pending")),
                        fields=("rule",),
                        name="rule_publish_request_one_pending",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("status", "approved"), _negated=True),
                            models.Q(("decided_by", models.F("requested_by")), _negated=True),
                            _connector="OR",
                        ),
                        name="rule_publish_request_four_eyes",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="RuleScenario",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                ("event", models.JSONField()),
                ("expect", models.JSONField()),
                ("last_result", models.JSONField(blank=True, null=True)),
                ("created_by", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="scenarios",
                        to="rules.rule",
                    ),
                ),
            ],
            options={
                "ordering": ["rule", "name", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("rule", "name"), name="rule_scenario_name_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
