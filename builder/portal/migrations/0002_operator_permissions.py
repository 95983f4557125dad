"""Operators work the portal's queue: they see and decide partner applications and invite
portal partners (the admin actions need `change`). Permissions are created here first, as in
ledger 0006: Django otherwise creates them only after all migrations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATORS = [
    "view_partnerapplication",
    "change_partnerapplication",
    "view_portalpartner",
    "change_portalpartner",
]


def grant(apps, schema_editor):
    portal = apps.get_app_config("portal")
    portal.models_module = True
    create_permissions(portal, apps=apps, verbosity=0)
    portal.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="operators")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="portal", codename__in=OPERATORS)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("ledger", "0006_operator_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
