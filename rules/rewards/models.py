"""The referral money domain: rewards (SPEC §4), credits (SPEC §5), the fraud review queue and
payout batches (SPEC §7). These models keep the app label `ledger` (admin URLs, permission
names and migration history are contracts); ledger/migrations holds their schema.

**Reward** is a referral reward's lifecycle on top of the books; beneficiaries are external
ids, not foreign keys into the referral domain.

Payout batches: paying affiliates in batches that a second person approves.

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
**PayoutCoverage** records which confirmed rewards an item paid (unique per reward and
attempt, so a reward is paid by one item at a time); reconciliation checks paid rewards against
it. Coverages are append-only: when an item fails, its rewards return to ``confirmed`` and a
later payout covers them again with the next ``attempt``.

Payout rails (SPEC §13): a batch has a ``rail`` (rules/rewards/rails). After execution each item
is ``sent``, then ``paid`` or ``failed``; a failed (or returned) item books the transfer back,
``program:payouts_clearing`` → ``user:{beneficiary}:rewards``, linked as its
``return_transaction`` (unique: returned once). A **PayoutMethod** is where a participant
wants to be paid; its details are encrypted at rest (config/platform/crypto.py) and only their
masked form is stored in clear.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from config.platform.models import Program
from ledger.models import Transaction


class Reward(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        PAID = "paid"
        REVERSED = "reversed"
        CLAWED_BACK = "clawed_back"

    class RewardType(models.TextChoices):
        CASH = "cash"
        VOUCHER = "voucher"
        CREDIT = "credit"
        POINTS = "points"

    # Indexed by the composite indexes below, which lead with the program: a separate index on
    # program (or a LIKE index on beneficiary) would only cost writes on every reward.
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="rewards", db_index=False
    )
    beneficiary = models.CharField(max_length=255)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reward_type = models.CharField(max_length=10, choices=RewardType.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    metadata = models.JSONField(default=dict, blank=True)
    # The pending transaction booked at creation; confirmation posts it, reversal voids it.
    transaction = models.OneToOneField(
        Transaction, on_delete=models.PROTECT, related_name="reward", null=True, blank=True
    )
    # Deterministic key of the source (e.g. event, rule version, action index): the database
    # refuses a second reward for the same source, so no retry or redelivery pays twice.
    source_key = models.CharField(max_length=255, null=True, blank=True)
    # Non-empty while the reward awaits a fraud review: it is never auto-confirmed.
    hold_reason = models.CharField(max_length=500, blank=True, default="")
    # The posted transfer back out of the user's account; unique, so a reward is clawed back once.
    clawback_transaction = models.OneToOneField(
        Transaction,
        on_delete=models.PROTECT,
        related_name="clawed_back_reward",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "ledger"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["program", "status", "created_at"]),
            models.Index(fields=["program", "beneficiary"], name="reward_beneficiary"),
            # Analytics: rewards created per day and status, with their amounts.
            models.Index(
                fields=["program", "created_at", "status", "amount"],
                name="reward_program_created",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="reward_amount_positive"),
            models.UniqueConstraint(fields=["program", "source_key"], name="reward_source_unique"),
        ]

    def __str__(self) -> str:
        return (
            f"Reward {self.pk} → {self.beneficiary} {self.amount} {self.currency} ({self.status})"
        )


class RewardHistory(models.Model):
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="history")
    status = models.CharField(max_length=12, choices=Reward.Status.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=255)
    reason = models.TextField(blank=True)

    class Meta:
        app_label = "ledger"
        ordering = ["at", "id"]
        verbose_name_plural = "reward history"


class CreditEntry(models.Model):
    """One applied credits operation (SPEC §5). The nonce is its idempotency key; the signed
    amount moves between ``user:{owner}:credits`` and ``program:credits_issued`` in
    ``transaction`` (none for a zero operation); ``balance`` is the owner's balance after it."""

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="credit_entries", db_index=False
    )
    owner_id = models.CharField(max_length=200)
    operation = models.CharField(max_length=100)
    amount = models.BigIntegerField(help_text="Signed: positive adds credits, negative spends")
    nonce = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    balance = models.BigIntegerField(default=0)
    transaction = models.OneToOneField(
        Transaction, on_delete=models.PROTECT, related_name="credit_entry", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "ledger"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "credit entries"
        constraints = [
            models.UniqueConstraint(fields=["program", "nonce"], name="credit_nonce_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.operation} {self.amount:+d}"


class PayoutMethod(models.Model):
    """Where one participant of a program is paid (SPEC §13)."""

    class Method(models.TextChoices):
        PAYPAL = "paypal", "PayPal"
        STRIPE_CONNECT = "stripe_connect", "Stripe Connect"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        UPI = "upi", "UPI"
        MANUAL = "manual", "Manual"

    program = models.ForeignKey(
        "ledger.Program", on_delete=models.PROTECT, related_name="payout_methods", db_index=False
    )
    beneficiary = models.CharField(max_length=255)
    method = models.CharField(max_length=20, choices=Method.choices)
    # Fernet ciphertext of the details (JSON); `masked` is what every screen shows.
    details_encrypted = models.TextField(blank=True)
    masked = models.JSONField(default=dict, blank=True)
    updated_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "ledger"
        ordering = ["program", "beneficiary"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "beneficiary"], name="payout_method_beneficiary_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.beneficiary}: {self.get_method_display()}"


class PayoutBatch(models.Model):
    class Rail(models.TextChoices):
        CSV = "csv", "CSV file"
        PAYPAL = "paypal", "PayPal Payouts"
        STRIPE_CONNECT = "stripe_connect", "Stripe Connect"
        EXTERNAL = "external", "External (webhook)"

    class CsvFormat(models.TextChoices):
        GENERIC = "generic", "Generic"
        PAYPAL_MASS_PAY = "paypal_mass_pay", "PayPal mass pay"
        WISE_BATCH = "wise_batch", "Wise batch"

    class Status(models.TextChoices):
        DRAFT = "draft"
        PENDING_APPROVAL = "pending_approval"
        APPROVED = "approved"
        EXECUTED = "executed"
        REJECTED = "rejected"

    # Indexed by payout_batch_scheduled_once (program, scheduled_for), which leads with it.
    program = models.ForeignKey(
        "ledger.Program", on_delete=models.PROTECT, related_name="payout_batches", db_index=False
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
    rail = models.CharField(max_length=20, choices=Rail.choices, default=Rail.CSV)
    csv_format = models.CharField(
        max_length=20, choices=CsvFormat.choices, default=CsvFormat.GENERIC, blank=True
    )
    # The month a scheduled draft was made for (its first day): one per program and month.
    scheduled_for = models.DateField(null=True, blank=True)

    class Meta:
        app_label = "ledger"
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
            models.UniqueConstraint(
                fields=["program", "scheduled_for"], name="payout_batch_scheduled_once"
            ),
        ]

    def __str__(self) -> str:
        return f"Payout batch {self.pk} ({self.status})"


class PayoutItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # not executed yet
        SENT = "sent"
        PAID = "paid"
        FAILED = "failed"

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
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The payout method at execution (its name; the details stay encrypted on PayoutMethod).
    method = models.CharField(max_length=20, blank=True)
    # The provider's id of the payout (PayPal batch/item, Stripe transfer), once it answered.
    provider_ref = models.CharField(max_length=255, blank=True)
    failure_reason = models.TextField(blank=True)
    # The transfer back into the beneficiary's rewards account when the item failed.
    return_transaction = models.OneToOneField(
        "ledger.Transaction",
        on_delete=models.PROTECT,
        related_name="returned_payout_item",
        null=True,
        blank=True,
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "ledger"
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

    @property
    def return_reference(self) -> str:
        return f"{self.reference}:return"

    @property
    def idempotency_key(self) -> str:
        """What every provider call about this item carries, the same on every retry."""
        return f"payout-item-{self.pk}"


class PayoutCoverage(models.Model):
    """A confirmed reward marked paid by a payout item."""

    item = models.ForeignKey(PayoutItem, on_delete=models.PROTECT, related_name="coverages")
    # Indexed by payout_coverage_reward_attempt_unique (reward, attempt), which leads with it.
    reward = models.ForeignKey(
        "ledger.Reward", on_delete=models.PROTECT, related_name="payout_coverages", db_index=False
    )
    # 0 for the first payout of the reward, n after n failed ones (unique with the reward).
    attempt = models.PositiveSmallIntegerField(default=0)

    class Meta:
        app_label = "ledger"
        verbose_name_plural = "payout coverages"
        constraints = [
            models.UniqueConstraint(
                fields=["reward", "attempt"], name="payout_coverage_reward_attempt_unique"
            ),
        ]


class HeldRewardManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().exclude(hold_reason="").filter(status=Reward.Status.PENDING)


class HeldReward(Reward):
    """The fraud review queue: pending rewards held by a signal, awaiting an operator's decision
    (release, then confirm; or reverse)."""

    objects: ClassVar[HeldRewardManager] = HeldRewardManager()

    class Meta:
        app_label = "ledger"
        proxy = True
        verbose_name = "held reward"
        verbose_name_plural = "held rewards (review queue)"
        permissions = [("review_reward", "Can release or reverse held rewards")]
