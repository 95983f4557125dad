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
    # Email preferences (SPEC section 12): a partner may turn off the emails that are not
    # needed to use the portal. Sign-in links are always sent.
    email_opt_out = models.BooleanField(
        default=False, help_text="No news or notifications (sign-in links are always sent)"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "partner account"

    def __str__(self) -> str:
        return f"partner {self.participant_id}"


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
