"""Analytics (SPEC section 11, `GET P/analytics`, rules/links/analytics.py): API clients may
read the funnel, which needs `rules.view_clickdaily` (operators have it since 0005)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"api clients": ["view_clickdaily"]}


def grant(apps, schema_editor):
    rules = apps.get_app_config("rules")
    rules.models_module = True
    create_permissions(rules, apps=apps, verbosity=0)
    rules.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="rules", codename__in=codenames)
        )


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
    dependencies = [("rules", "0005_referral_links")]

    operations = [migrations.RunPython(grant, revoke)]
