"""System checks for rules-side configuration mistakes."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

SUPPORTED_BROKER_SCHEMES = frozenset({"redis", "rediss", "amqp", "amqps", "pyamqp"})


@register()
def check_broker_url(app_configs, **kwargs) -> list[Error]:
    url = getattr(settings, "CELERY_BROKER_URL", "")
    if not url:
        return []  # inline processing: the embedded default
    scheme = urlsplit(url).scheme
    if scheme not in SUPPORTED_BROKER_SCHEMES:
        return [
            Error(
                f"CELERY_BROKER_URL has the unsupported scheme {scheme or '(none)'!r}.",
                hint="Use redis://host:6379/0 or amqp://user:pass@host:5672//, or leave it "
                "unset to process events inline.",
                id="rules.E001",
            )
        ]
    return []
