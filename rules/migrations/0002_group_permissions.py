"""Grant the groups created by ledger's 0006_operator_groups what they need of the rules app
(ledger cannot know rules): rule authors get what the builder needs (rules, their versions,
the program's rule configuration) and read access to participants and events for trying rules
against real data; operators get read access to participants, referrals and events so they can
look a user up and see failed events."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR_CODENAMES = ["view_participant", "view_referral", "view_event"]
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


GRANTS = {"rule authors": CODENAMES, "operators": OPERATOR_CODENAMES}


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
        ("rules", "0001_referrals_events_rules"),
        ("ledger", "0006_operator_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
