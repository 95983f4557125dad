from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "builder.portal"
    label = "portal"
    verbose_name = "Partner portal"
