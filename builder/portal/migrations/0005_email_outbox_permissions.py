"""Operators see the partner emails of the outbox and send failed ones again (the admin action
needs `change`), as they work the portal's other queues (0002)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATORS = ["view_emailoutbox", "change_emailoutbox"]


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
        ("portal", "0004_email_outbox_program_index"),
        ("portal", "0002_operator_permissions"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
