from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "rules.billing"
    label = "billing"
    verbose_name = "Billing connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rules.billing import providers, tasks
        from rules.billing.services.handoff import delivery_handoff_connect

        providers.autodiscover()  # each rules/billing/providers/<name>.py registers itself
        # A stored delivery is processed (on a worker, or here) once it is committed.
        delivery_handoff_connect(tasks.delivery_enqueue)
