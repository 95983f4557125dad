from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The shared machinery every layer may use (API, errors, audit, webhooks, request context,
    health). Its models keep the app label `ledger`; see config/platform/models.py."""

    name = "config.platform"
    label = "platform"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.platform.signals import connect_access_audit

        connect_access_audit()  # users, groups and permissions reach the audit log
