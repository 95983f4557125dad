"""Who a partner is, and who asked to become one.

A partner is a **participant** of one program who may sign in to that program's portal. Each
gets a Django **User** of their own (``partner-<participant id>``: never staff, never a
superuser, no usable password), linked one-to-one to the participant by a **PartnerAccount**.
Why a User per participant and not per email: one person may be a participant of two programs
(two referral codes, two balances), and a session must name exactly one of them, so a portal URL
of the other program is refused rather than silently switched. Why a User at all: Django's
session, CSRF, ``login``/``logout`` and django-sesame's single-use tokens (which hash the user's
``last_login``) all work on it unchanged, and the admin and the rule builder already refuse a
user who is not staff, so a partner session can never reach them. Conversely the portal accepts
only a user that has a PartnerAccount and is not staff: a staff session is not a partner.

The participant's email is its ``email`` attribute (rules.models.Participant.attributes); the
User's email is a copy made when the account is created, for django-sesame's optional checks.

A **PartnerApplication** is the approval queue of a program whose ``partner_signup`` is
``approval``: an application is only an email and a name until an operator approves it, and
only then is a participant created (through rules.services.participants).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.platform.models import Program
from rules.models import Participant


class PartnerAccount(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_account"
    )
    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="partner_account"
    )
    # Email preferences (SPEC section 12): one switch per notification email (EmailOutbox.Kind),
    # read when the email is sent. Sign-in links (and the welcome, which is one) are always sent.
    email_reward_confirmed = models.BooleanField(
        default=True, help_text="Email the partner when a reward is confirmed"
    )
    email_payout_sent = models.BooleanField(
        default=True, help_text="Email the partner when a payout is sent"
    )
    email_payout_failed = models.BooleanField(
        default=True, help_text="Email the partner when a payout fails"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "partner account"

    def __str__(self) -> str:
        return f"partner {self.participant_id}"

    def wants(self, kind: str) -> bool:
        """Whether the partner wants this kind of notification email (EmailOutbox.Kind)."""
        return bool(getattr(self, f"email_{kind}"))


class PartnerApplication(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.CharField(max_length=255, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The participant the approval created (or found by email).
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "partner application"
        constraints = [
            # One open application per email and program: applying twice adds nothing.
            models.UniqueConstraint(
                fields=["program", "email"],
                condition=models.Q(status="pending"),
                name="partner_application_pending_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class PortalPartner(Participant):
    """Participants as the portal's operators see them (admin: invite to the portal)."""

    class Meta:
        proxy = True
        verbose_name = "portal partner"


class EmailOutbox(models.Model):
    """One notification email to a partner, written in the transaction of the change that
    caused it (a reward confirmed, a payout sent or failed: config.platform.notifications) and
    sent after that commits, retried with backoff until the mail server takes it
    (builder/portal/outbox.py). At most one row per kind and object (`object_key`, e.g.
    ``reward:42``), so a repeated or concurrent notification adds no second email.

    The partner is named by program and external id (the money domain knows no more); who gets
    the email, whether they want it and what it says are decided when it is sent, so an email
    address or preference changed meanwhile counts."""

    class Kind(models.TextChoices):
        REWARD_CONFIRMED = "reward_confirmed", "Reward confirmed"
        PAYOUT_SENT = "payout_sent", "Payout sent"
        PAYOUT_FAILED = "payout_failed", "Payout failed"

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its first or next attempt
        SENT = "sent"  # the mail server accepted it
        SKIPPED = "skipped"  # not sent, on purpose: no partner account, no email, opted out
        FAILED = "failed"  # gave up after the last attempt

    # Indexed by the unique constraint below, which leads with the program.
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    # The participant's external id (rules.models.Participant.external_id); not a foreign key,
    # so a notification never fails the money write it belongs to.
    beneficiary = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_key = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    to = models.EmailField(blank=True, help_text="Where it was sent")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "partner email"
        constraints = [
            models.UniqueConstraint(
                fields=["program", "kind", "object_key"], name="portal_email_once"
            ),
        ]
        indexes = [
            # The sweep's query: due pending emails, oldest first.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="portal_email_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.beneficiary} ({self.status})"
