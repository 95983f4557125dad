"""Retention of webhook messages: the documented ways they may be deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import ValidationFailed
from config.platform.models import WebhookDelivery, WebhookEndpoint, WebhookMessage

Status = WebhookMessage.Status

# Delivered messages are kept this many days (setting WEBHOOK_RETENTION_DAYS), then removed by
# `webhook_messages_purge` (`manage.py purge_webhook_messages`, run daily from cron).
WEBHOOK_RETENTION_DAYS = 90


def allow_message_delete(scope: str, *, endpoint: WebhookEndpoint | None = None) -> None:
    """The database refuses to delete webhook messages (migration 0010) except for the two
    documented paths, which say so for their own database transaction: the retention job
    (`retention:<cutoff>`: delivered messages delivered before the cutoff) and an endpoint's
    deletion (`endpoint:<id>`). SQLite cannot read the setting; there an endpoint is
    deactivated first, and its trigger lets an inactive endpoint's messages go."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('ledger.webhook_delete', %s, true)", [scope])
    elif endpoint is not None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)


def webhook_messages_purge(
    *, now: datetime | None = None, older_than_days: int | None = None, actor: str = "system"
) -> int:
    """Delete delivered webhook messages (and their delivery logs) delivered more than
    `older_than_days` (default: the WEBHOOK_RETENTION_DAYS setting, 90) ago. Pending and failed
    messages are never purged. Returns how many messages went; audited when any did."""
    days = older_than_days
    if days is None:
        days = int(getattr(settings, "WEBHOOK_RETENTION_DAYS", WEBHOOK_RETENTION_DAYS))
    if days < 1:
        raise ValidationFailed("Webhook messages are kept at least one day.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    with transaction.atomic():
        allow_message_delete(f"retention:{cutoff.isoformat()}")
        old = WebhookMessage.objects.filter(status=Status.DELIVERED, delivered_at__lt=cutoff)
        WebhookDelivery.objects.filter(message__in=old).delete()
        _, deleted = old.delete()
        purged = deleted.get(WebhookMessage._meta.label, 0)
        if purged:
            audit_record(
                program=None,
                actor=actor,
                action="webhook_messages.purged",
                object_type="webhook_message",
                object_id="retention",
                after={"deleted": purged, "delivered_before": cutoff.isoformat(), "days": days},
            )
    return purged
