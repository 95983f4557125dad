from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "builder.portal"
    label = "portal"
    verbose_name = "Partner portal"

    def ready(self) -> None:
        from builder.portal.outbox import notification_record
        from config.platform.notifications import notification_handler_register

        # Partners are told of confirmed rewards and sent or failed payouts by email: an outbox
        # row in the money write's transaction, sent after it commits (builder/portal/outbox.py).
        notification_handler_register(notification_record)
