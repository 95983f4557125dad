from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Referrals and rules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rules import checks, signals  # noqa: F401  (registers checks and receivers)
