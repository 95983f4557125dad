"""Two-person publishing's own permissions: approving a publish request (rule authors, people;
not the api clients group every backend key is in) and switching two-person publishing off
(nobody by default: superusers, or a group an administrator grants it to)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"rule authors": ["approve_rulepublishrequest"]}


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
        ("rules", "0012_scenarios_publish_requests"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="ruleprogramconfig",
            options={
                "permissions": [
                    ("switch_off_publish_approval", "Can switch two-person rule publishing off")
                ],
                "verbose_name": "rules settings",
                "verbose_name_plural": "rules settings",
            },
        ),
        migrations.AlterModelOptions(
            name="rulepublishrequest",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("approve_rulepublishrequest", "Can approve a request to publish a rule")
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
