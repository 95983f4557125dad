from django.apps import AppConfig


class TiersConfig(AppConfig):
    name = "rules.tiers"
    label = "tiers"
    verbose_name = "Partner tiers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from config.platform.webhooks.events import webhook_event_types_register
        from rules.tiers import tasks  # noqa: F401  (the nightly task registers with Celery)
        from rules.tiers.services import TIER_CHANGED
        from rules.tiers.triggers import sqlite_triggers_restore

        webhook_event_types_register(TIER_CHANGED)
        post_migrate.connect(
            sqlite_triggers_restore, sender=self, dispatch_uid="tiers-sqlite-triggers"
        )
