"""Groups for the operator console, with fitting permissions.

- operators: see everything in the ledger; act on rewards (confirm, reverse, claw back) and on
  the review queue; create, fill, submit, reject and execute payout batches; run
  reconciliations; manage API keys.
- approvers: see everything; approve (or reject) payout batches — never their own, which the
  service and a database constraint refuse whatever the group.
- rule authors: see programs and rewards (the rules app grants its own permissions to this
  group in its migrations: ledger must not know the rules app).

Permissions are created here first: Django otherwise creates them only after all migrations
(post_migrate), too late on a fresh database.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    "program",
    "apikey",
    "account",
    "transaction",
    "posting",
    "reward",
    "rewardhistory",
    "heldreward",
    "payoutbatch",
    "payoutitem",
    "auditentry",
    "reconciliationrun",
    "creditentry",
]
GROUPS = {
    "operators": [
        *(f"view_{m}" for m in VIEW),
        "change_reward",
        "review_reward",
        "add_payoutbatch",
        "change_payoutbatch",
        "execute_payoutbatch",
        "add_reconciliationrun",
        "add_apikey",
    ],
    "approvers": [*(f"view_{m}" for m in VIEW), "approve_payoutbatch"],
    "rule authors": ["view_program", "view_reward"],
}


def create_groups(apps, schema_editor):
    ledger = apps.get_app_config("ledger")
    ledger.models_module = True
    create_permissions(ledger, apps=apps, verbosity=0)
    ledger.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="ledger", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"permissions missing for group {name}: {sorted(missing)}")
        group.permissions.add(*perms)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("ledger", "0005_payouts_reconciliation_runs"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
