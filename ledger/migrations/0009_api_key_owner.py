"""Two-person control means two people (issue 11, items 1-2).

- An API key gets an **owner** and acts as that user (actor and permissions). Existing keys go
  to their program's service identity `api-<slug>` (a non-staff user with no password), as
  `manage.py create_api_key <slug>` does from now on.
- Payout items record who **added** them (`added_by`, from the audit log for existing items),
  and a trigger refuses an approval by the batch's creator, submitter or any item's author
  (`0009_api_key_owner.<vendor>.sql`; the creator's check constraint of 0005 stays).
- Groups: **key managers** may create (and revoke) API keys, a right of its own that operators
  lose; **api clients** hold what a backend's service identity needs (everything the API does
  but approving payout batches and managing keys). This is the one ledger migration that names
  the rules app's permissions (by label, no import): API clients call the rules endpoints too,
  and the placeholder order gave this change one migration.
"""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models
from django.db.models.deletion import PROTECT

from ledger.migrations._sql import run_sql_files

KEY_MANAGERS = {"ledger": ["add_apikey", "view_apikey", "view_program"]}
API_CLIENTS = {
    "ledger": [
        "view_program",
        "add_account",
        "view_account",
        "view_posting",
        "add_transaction",
        "view_transaction",
        "add_reward",
        "view_reward",
        "change_reward",
        "review_reward",
        "add_creditentry",
        "view_creditentry",
        "add_webhookendpoint",
        "view_webhookendpoint",
        "change_webhookendpoint",
        "delete_webhookendpoint",
        "view_webhookdelivery",
        "view_webhookmessage",
        "change_webhookmessage",
        "add_payoutbatch",
        "view_payoutbatch",
        "change_payoutbatch",
        "execute_payoutbatch",
        "view_auditentry",
        "add_reconciliationrun",
        "view_reconciliationrun",
    ],
    "rules": [
        "view_participant",
        "add_participant",
        "change_participant",
        "view_referral",
        "add_referral",
        "view_event",
        "add_event",
        "view_rule",
        "add_rule",
        "change_rule",
        "view_ruleversion",
        "add_ruleversion",
    ],
}
GROUPS = {"key managers": KEY_MANAGERS, "api clients": API_CLIENTS}
# Creating keys is no longer an operator's right (0006 gave it to them).
REVOKED = {"operators": {"ledger": ["add_apikey"]}}


def _permissions(apps, by_app: dict[str, list[str]]) -> list:
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codenames in by_app.items():
        perms = list(
            Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
        missing = set(codenames) - {p.codename for p in perms}
        if missing:
            raise RuntimeError(f"permissions missing in {app_label}: {sorted(missing)}")
        found += perms
    return found


def apply_groups(apps, schema_editor=None):
    """Create the groups (and take add_apikey from operators); idempotent. The test suite runs
    it again after a flush, after 0006's and rules 0002's own functions."""
    for label in ("ledger", "rules"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name, by_app in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, by_app))
    for name, by_app in REVOKED.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, by_app))


def unapply_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=GROUPS).delete()
    for name, by_app in REVOKED.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*_permissions(apps, by_app))


def owners_and_authors(apps, schema_editor):
    """Existing keys: owned by their program's service identity. Existing items: added by
    whoever the audit log says added them (else the batch's creator)."""
    from django.contrib.auth.hashers import make_password

    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Group = apps.get_model("auth", "Group")
    ApiKey = apps.get_model("ledger", "ApiKey")
    clients = Group.objects.get(name="api clients")
    for key in ApiKey.objects.filter(owner__isnull=True).select_related("program"):
        base = name = f"api-{key.program.slug}"
        n = 1
        user = User.objects.filter(username=name).first()
        # A person who happens to have that name is never made the owner: pick the next name.
        while user is not None and (user.is_staff or user.is_superuser or user.password[:1] != "!"):
            n += 1
            name = f"{base}-{n}"
            user = User.objects.filter(username=name).first()
        if user is None:
            user = User.objects.create(username=name, password=make_password(None), is_active=True)
        user.groups.add(clients)
        key.owner = user
        key.save(update_fields=["owner"])

    AuditEntry = apps.get_model("ledger", "AuditEntry")
    PayoutItem = apps.get_model("ledger", "PayoutItem")
    authors = {}
    for entry in AuditEntry.objects.filter(action="payout_batch.item_added").values(
        "actor", "after"
    ):
        item = (entry["after"] or {}).get("item")
        if item is not None:
            authors[item] = entry["actor"]
    for item in PayoutItem.objects.filter(added_by="").select_related("batch"):
        item.added_by = authors.get(item.pk) or item.batch.created_by
        item.save(update_fields=["added_by"])
    if schema_editor.connection.vendor == "postgresql":
        # Fire the deferred foreign-key checks now: PostgreSQL refuses to ALTER a table with
        # pending trigger events (the owner column becomes NOT NULL next).
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_redundant_fk_indexes"),
        ("rules", "0002_group_permissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="owner",
            field=models.ForeignKey(
                null=True,
                on_delete=PROTECT,
                related_name="api_keys",
                to=settings.AUTH_USER_MODEL,
                help_text="The person or service identity the key acts as",
            ),
        ),
        migrations.AddField(
            model_name="payoutitem",
            name="added_by",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.RunPython(apply_groups, unapply_groups),
        migrations.RunPython(owners_and_authors, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apikey",
            name="owner",
            field=models.ForeignKey(
                on_delete=PROTECT,
                related_name="api_keys",
                to=settings.AUTH_USER_MODEL,
                help_text="The person or service identity the key acts as",
            ),
        ),
        run_sql_files("0009_api_key_owner"),
    ]
