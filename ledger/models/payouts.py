"""Payout batches (SPEC §7): paying affiliates in batches that a second person approves.

A **PayoutBatch** moves ``draft → pending_approval → approved → executed`` (or ``rejected``).
Actors are strings, ``user:<username>``: a staff user's session and every API key they own (a
key acts as its owner) are one identity. The approver must be none of the batch's creator, its
submitter and the people who added its items; the database refuses it too, whatever code path
tries it: a check constraint for the creator, and a trigger (migration 0009 and its ``.sql``
files, PostgreSQL and SQLite alike) for the submitter and the items' ``added_by``, checked on
every new approval (batches approved before 0009 are history and stay as they are).

A **PayoutItem** pays one beneficiary. Executing the batch books one posted transfer per item,
``user:{beneficiary}:rewards`` → ``program:payouts_clearing``, and links it to the item
(unique): an item is booked at most once, however often or concurrently the batch is executed.
**PayoutCoverage** records which confirmed rewards an item paid (unique per reward, so a
reward is paid by exactly one item); reconciliation checks paid rewards against it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class PayoutBatch(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        PENDING_APPROVAL = "pending_approval"
        APPROVED = "approved"
        EXECUTED = "executed"
        REJECTED = "rejected"

    program = models.ForeignKey(
        "ledger.Program", on_delete=models.PROTECT, related_name="payout_batches"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    submitted_by = models.CharField(max_length=255, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=255, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.CharField(max_length=255, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    executed_by = models.CharField(max_length=255, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "payout batches"
        permissions = [
            ("approve_payoutbatch", "Can approve payout batches (never one's own)"),
            ("execute_payoutbatch", "Can execute approved payout batches"),
        ]
        constraints = [
            # Two-person rule, enforced by the database too.
            models.CheckConstraint(
                condition=Q(approved_by="") | ~Q(approved_by=F("created_by")),
                name="payout_batch_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "executed"]) | ~Q(approved_by=""),
                name="payout_batch_approved_has_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"Payout batch {self.pk} ({self.status})"


class PayoutItem(models.Model):
    batch = models.ForeignKey(
        PayoutBatch, on_delete=models.PROTECT, related_name="items", db_index=False
    )
    beneficiary = models.CharField(max_length=255)
    amount = models.BigIntegerField()
    # Who put the item in the batch: never its approver (service and database trigger).
    added_by = models.CharField(max_length=255, blank=True)
    # The transfer booked at execution; unique, so an item is booked once.
    transaction = models.OneToOneField(
        "ledger.Transaction",
        on_delete=models.PROTECT,
        related_name="payout_item",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["batch", "beneficiary"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_item_amount_positive"),
            models.UniqueConstraint(
                fields=["batch", "beneficiary"], name="payout_item_beneficiary_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.beneficiary}: {self.amount}"

    @property
    def reference(self) -> str:
        """Deterministic reference of the item's transfer (ledger, CSV export, bank file)."""
        return f"payout:{self.batch_id}:{self.pk}"


class PayoutCoverage(models.Model):
    """A confirmed reward marked paid by a payout item."""

    item = models.ForeignKey(PayoutItem, on_delete=models.PROTECT, related_name="coverages")
    reward = models.OneToOneField(
        "ledger.Reward", on_delete=models.PROTECT, related_name="payout_coverage"
    )

    class Meta:
        verbose_name_plural = "payout coverages"
