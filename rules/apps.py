from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Referrals and rules"
    default_auto_field = "django.db.models.BigAutoField"
