"""Webhooks: an outbox of messages to a program's subscribed endpoints.

A **WebhookEndpoint** is a URL a program registered, with the event types it wants and a secret
that signs every request (HMAC-SHA256; the secret is shown once, when it is made). A state change
that others should hear about writes one **WebhookMessage** per subscribed endpoint in the same
database transaction as the change (the transactional outbox): the message exists exactly when
the change does, whatever happens to the process afterwards. Delivery happens after commit, is
retried with exponential backoff, and each attempt appends a **WebhookDelivery** row (the
delivery log operators read when a receiver says it never got a message). The event types are
registered by the apps that own them (config.platform.webhooks.events).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookEndpoint(models.Model):
    program = models.ForeignKey(
        "ledger.Program", on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    # Stored as is: signing needs the secret itself. It is returned by the API only on creation.
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list, help_text="Subscribed event types")
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "ledger"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.program.slug})"


class WebhookMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its first or next attempt
        DELIVERED = "delivered"  # a 2xx answer was received
        FAILED = "failed"  # gave up after the last retry; an operator may redeliver

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    program = models.ForeignKey("ledger.Program", on_delete=models.PROTECT, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    # One id per emitted event, shared by its messages to different endpoints: receivers
    # deduplicate on it (delivery is at least once).
    event_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    event_type = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts since the last (re)send")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "ledger"
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The sweep's query: due pending messages, oldest first.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_message_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint.url} ({self.status})"


class WebhookDelivery(models.Model):
    """One delivery attempt (append-only log)."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    attempt = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    success = models.BooleanField(default=False)

    class Meta:
        app_label = "ledger"
        ordering = ["-at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        outcome = self.status_code or self.error[:40]
        return f"attempt {self.attempt} of {self.message_id}: {outcome}"
