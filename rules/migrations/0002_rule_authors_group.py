"""Grant the "rule authors" group (created by ledger's 0006_operator_groups) what the builder
needs: rules, their versions and the program's rule configuration; read access to
participants and events for trying rules against real data."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = [
    "view_rule",
    "add_rule",
    "change_rule",
    "view_ruleversion",
    "add_ruleversion",
    "view_ruleprogramconfig",
    "change_ruleprogramconfig",
    "view_participant",
    "view_event",
]


def grant(apps, schema_editor):
    rules = apps.get_app_config("rules")
    rules.models_module = True
    create_permissions(rules, apps=apps, verbosity=0)
    rules.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="rule authors")
    perms = Permission.objects.filter(content_type__app_label="rules", codename__in=CODENAMES)
    missing = set(CODENAMES) - set(perms.values_list("codename", flat=True))
    if missing:
        raise RuntimeError(f"permissions missing for rule authors: {sorted(missing)}")
    group.permissions.add(*perms)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="rule authors").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="rules", codename__in=CODENAMES)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0001_referrals_events_rules"),
        ("ledger", "0006_operator_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
