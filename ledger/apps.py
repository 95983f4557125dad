from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ledger.migrations._sql import restore_sqlite_triggers

        post_migrate.connect(
            restore_sqlite_triggers, sender=self, dispatch_uid="ledger-sqlite-triggers"
        )
