from django.apps import AppConfig


class TiersConfig(AppConfig):
    name = "rules.tiers"
    label = "tiers"
    verbose_name = "Partner tiers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.platform.webhooks.events import webhook_event_types_register
        from rules.tiers import tasks  # noqa: F401  (the nightly task registers with Celery)
        from rules.tiers.services import TIER_CHANGED

        webhook_event_types_register(TIER_CHANGED)
