"""The platform's records: the tenant (Program), its API keys, stored idempotent responses and the
audit log. Their app label stays `ledger` (admin URLs, permission names and migration history
are contracts); ledger/migrations holds their schema.

Webhooks: an outbox of messages to a program's subscribed endpoints.

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

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AttributionModel(models.TextChoices):
    FIRST_CLICK = "first_click", "First click"
    LAST_CLICK = "last_click", "Last click"


class PartnerSignup(models.TextChoices):
    CLOSED = "closed", "Closed (invite only)"
    APPROVAL = "approval", "Approval (anyone may apply)"
    OPEN = "open", "Open"


class PayoutSchedule(models.TextChoices):
    MANUAL = "manual", "Manual"
    MONTHLY = "monthly", "Monthly (a draft batch each month)"


class Program(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code, e.g. INR")
    direct_rate_bps = models.PositiveIntegerField(
        default=1000, help_text="Direct commission in basis points (1000 = 10%)"
    )
    override_rate_bps = models.PositiveIntegerField(
        default=200, help_text="Second-level (parent) commission in basis points"
    )
    hold_days = models.PositiveIntegerField(
        default=0, help_text="Pending rewards confirm automatically after this many days (0: never)"
    )
    operation_set = models.CharField(max_length=50, default="core")
    min_payout = models.PositiveBigIntegerField(
        default=0, help_text="Smallest payout item, in minor units"
    )
    fraud_amount_threshold = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Rewards above this amount (minor units) are held for review and never "
        "confirmed automatically (empty: no threshold)",
    )
    # Referral links (SPEC section 11): where /r/{code} sends a visitor, which hosts a named
    # link may send them to (config/platform/destinations.py), and how long a click counts.
    landing_url = models.CharField(
        max_length=2000, blank=True, default="", help_text="Where referral links lead (https)"
    )
    allowed_domains = models.JSONField(
        default=list, blank=True, help_text="Hosts links may lead to (subdomains included)"
    )
    attribution_window_days = models.PositiveSmallIntegerField(
        default=90, help_text="How long a click can earn a referral (1-365 days)"
    )
    attribution_model = models.CharField(
        max_length=20, choices=AttributionModel.choices, default=AttributionModel.LAST_CLICK
    )
    # Who may join the partner portal (SPEC section 12).
    partner_signup = models.CharField(
        max_length=20, choices=PartnerSignup.choices, default=PartnerSignup.CLOSED
    )
    # Payouts (SPEC section 13): monthly, the scheduler drafts a batch on day 1 + delay.
    payout_schedule = models.CharField(
        max_length=10, choices=PayoutSchedule.choices, default=PayoutSchedule.MANUAL
    )
    payout_delay_days = models.PositiveSmallIntegerField(
        default=0, help_text="Monthly drafts are made this many days after the 1st (0-27)"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "ledger"
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(attribution_window_days__gte=1)
                & models.Q(attribution_window_days__lte=365),
                name="program_attribution_window_days_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


def hash_api_key(raw: str) -> str:
    """API keys are high-entropy random strings, so a fast hash is enough (as GitHub does)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A program-scoped API key. Only a SHA-256 hash is stored; the key is shown once.

    A key acts as its **owner**, a user: the staff user who created it for themself, or a
    service identity (a non-staff user with no password, e.g. ``api-acme``) a superuser named.
    Its actor is the owner's (``user:<username>``) and its permissions are the owner's, so a
    person and their key are one identity for two-person control, and a key can never do more
    than its owner. A deactivated owner's keys stop working."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="api_keys")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_keys",
        help_text="The person or service identity the key acts as",
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise the key")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "ledger"
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> str:
        """The owner's identity: a key and its owner's session are one person."""
        return f"user:{self.owner.get_username()}"


class IdempotencyRecord(models.Model):
    """A stored response for an Idempotency-Key, written in the same database transaction as
    the request's effect. Keys are scoped to the program and kept, not expired."""

    # No index of its own: idempotency_key_unique (program, key) serves lookups by program.
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "ledger"
        constraints = [
            models.UniqueConstraint(fields=["program", "key"], name="idempotency_key_unique"),
        ]


class AuditEntry(models.Model):
    """Append-only audit trail (the database refuses updates and deletes)."""

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=255)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=255)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=100, blank=True)

    class Meta:
        app_label = "ledger"
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_type}:{self.object_id}"


class WebhookEndpoint(models.Model):
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="webhook_endpoints")
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
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
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
