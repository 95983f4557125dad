"""Billing connectors: a billing system's webhooks become events (SPEC section 13).

Design overview:

- **Integration**: one per program and provider (``stripe``, ``paddle``): the webhook signing
  secret (encrypted at rest with config.platform.crypto; never shown again), the refund policy
  and an optional mapping (event type names, metadata keys).
- **Delivery**: every webhook the receiver accepted (signature verified), stored before the 200
  with its body, the headers that matter and the provider's event id, which is unique per
  program and provider: a redelivery stores nothing new. Processing happens after commit and
  says what came of it: ``processed`` (mapped to which event), ``ignored`` (why), ``failed``
  (why), or still ``received`` (due, or ``waiting_for`` the payment a refund refers to).
- **Payment** / **PaymentRef**: a payment that became an event, found again by any of the
  provider's ids (payment intent, charge, invoice, checkout session, transaction), so a refund
  finds the event whose rewards it takes back, and the refunds applied to it so far.
- **CustomerLink**: which participant a provider's customer is, so a renewal invoice without
  checkout metadata is the same user.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from config.platform.models import Program


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PADDLE = "paddle", "Paddle Billing"


class Integration(models.Model):
    class RefundPolicy(models.TextChoices):
        REVERSE_OR_CLAWBACK = "reverse_or_clawback", "Reverse unpaid, claw back paid rewards"
        RECORD_ONLY = "record_only", "Record the refund event only"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    # Fernet ciphertext (config.platform.crypto.secret_encrypt); the plaintext is never stored.
    signing_secret_encrypted = models.TextField(blank=True, default="")
    secret_hint = models.CharField(max_length=40, blank=True, default="")
    refund_policy = models.CharField(
        max_length=30, choices=RefundPolicy.choices, default=RefundPolicy.REVERSE_OR_CLAWBACK
    )
    mapping = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "provider"], name="billing_integration_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.program_id}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    provider_event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    body = models.TextField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    # The event it became (rules.models.Event.event_id), when it became one.
    event_id = models.CharField(max_length=255, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    # A refund whose payment has not arrived: the provider's id of that payment.
    waiting_for = models.CharField(max_length=255, blank=True, default="", db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        permissions = [("replay_delivery", "Can replay a billing webhook delivery")]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "provider", "provider_event_id"],
                name="billing_delivery_unique",
            )
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="billing_delivery_due"),
            models.Index(fields=["program", "received_at"], name="billing_delivery_program"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.provider_event_id}"


class Payment(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    event_id = models.CharField(max_length=255)  # the payment's event (rules.models.Event)
    user = models.CharField(max_length=255)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # Refunds applied, by the provider's refund reference: {"charge": 500, "dispute:dp_1": 1000}.
    refunds = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "event_id"], name="billing_payment_unique")
        ]

    def __str__(self) -> str:
        return self.event_id


class PaymentRef(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    ref = models.CharField(max_length=255)
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="refs")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "provider", "ref"], name="billing_paymentref_unique"
            )
        ]


class CustomerLink(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    customer = models.CharField(max_length=255)
    user = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "provider", "customer"], name="billing_customer_unique"
            )
        ]
