from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0003_leaner_indexes"),
        ("ledger", "0010_integrity_gaps"),
    ]

    operations: list = [
        # A participant id is one segment of an account code (user:{id}:rewards), or the ledger
        # can never pay them. Fails on a database holding such an id: rename it first.
        migrations.AddConstraint(
            model_name="participant",
            constraint=models.CheckConstraint(
                condition=models.Q(("external_id__regex", "\\A[A-Za-z0-9_.@-]{1,200}\\Z")),
                name="participant_external_id_payable",
            ),
        ),
    ]
