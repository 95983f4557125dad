"""Ledger: design overview.

A **Program** is a tenant: it owns API keys, accounts, transactions and rewards, and fixes a
currency. Money moves only as a **Transaction** of two or more **Postings** whose debits equal
its credits per currency. Transactions and postings are append-only: PostgreSQL triggers refuse
UPDATE, DELETE and TRUNCATE, and a deferred constraint trigger refuses an unbalanced transaction
at commit (migration 0002 and its `.sql` files). Corrections are new transactions:

* ``posted``   an ordinary transfer;
* ``pending``  two-phase: reserves amounts (pending totals) until a ``post`` or ``void``
  transaction resolves it, exactly once (unique ``resolves``);
* ``post`` / ``void``  resolve a pending one; they copy its postings so every transaction,
  however it came about, is a balanced set of postings;
* ``reversal`` mirrors a posted transaction, at most once (unique ``reverses``).

Stored balances are kept per account in **AccountBalance** rows (posted and pending debit and
credit totals), updated in the same database transaction as the postings. An account may have
several balance *shards*: a hot account such as ``program:rewards_expense`` spreads concurrent
writers over shard rows instead of serialising every reward on one row; reading a balance sums
at most a handful of rows. ``no_overdraft`` accounts have one shard and are updated with a
conditional UPDATE, so no interleaving can take them below zero.

The ledger knows nothing of referrals or rules: a transaction carries a free-form ``reference``
to its source. **Reward** is the referral reward's lifecycle on top of the ledger (SPEC §4);
beneficiaries are external ids, not foreign keys into the rules app.
"""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

DEBIT, CREDIT = "debit", "credit"
DIRECTIONS = [(DEBIT, "debit"), (CREDIT, "credit")]


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
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

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


class Account(models.Model):
    class Kind(models.TextChoices):
        ASSET = "asset"
        LIABILITY = "liability"
        EQUITY = "equity"
        REVENUE = "revenue"
        EXPENSE = "expense"

    DEBIT_NORMAL = {Kind.ASSET, Kind.EXPENSE}

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="accounts", db_index=False
    )
    code = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    no_overdraft = models.BooleanField(default=False)
    balance_shards = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="account_code_unique"),
            models.CheckConstraint(
                condition=Q(balance_shards__gte=1) & (Q(no_overdraft=False) | Q(balance_shards=1)),
                name="account_overdraft_single_shard",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def debit_normal(self) -> bool:
        return self.kind in self.DEBIT_NORMAL


class AccountBalance(models.Model):
    """Running totals of an account's postings (one or more shard rows per account)."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="balances", db_index=False
    )
    shard = models.PositiveSmallIntegerField(default=0)
    posted_debits = models.BigIntegerField(default=0)
    posted_credits = models.BigIntegerField(default=0)
    pending_debits = models.BigIntegerField(default=0)
    pending_credits = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "shard"], name="balance_shard_unique"),
        ]


class Transaction(models.Model):
    class Kind(models.TextChoices):
        POSTED = "posted"
        PENDING = "pending"
        POST = "post"
        VOID = "void"
        REVERSAL = "reversal"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    resolves = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resolution"
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    reference = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["reference"], name="transaction_reference")]
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind__in=["post", "void"]) & Q(resolves__isnull=False))
                | (~Q(kind__in=["post", "void"]) & Q(resolves__isnull=True)),
                name="transaction_resolves_iff_post_or_void",
            ),
            models.CheckConstraint(
                condition=(Q(kind="reversal") & Q(reverses__isnull=False))
                | (~Q(kind="reversal") & Q(reverses__isnull=True)),
                name="transaction_reverses_iff_reversal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    @property
    def status(self) -> str:
        """What an API consumer sees: a pending transaction becomes posted or voided once it is
        resolved; the resolving transactions themselves read as posted / voided."""
        if self.kind == self.Kind.PENDING:
            resolution = getattr(self, "resolution", None)
            if resolution is None:
                return "pending"
            return "posted" if resolution.kind == self.Kind.POST else "voided"
        if self.kind == self.Kind.VOID:
            return "voided"
        return "posted"


class Posting(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    # Covered by posting_account_time, which leads with the account.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="postings", db_index=False
    )
    direction = models.CharField(max_length=6, choices=DIRECTIONS)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # Copies of the transaction's kind and time: postings are immutable, and aggregates over
    # millions of rows (balance as of a time, reconciliation) then need no join.
    kind = models.CharField(max_length=10, choices=Transaction.Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "created_at"], name="posting_account_time")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="posting_amount_positive"),
            models.CheckConstraint(
                condition=Q(direction__in=[DEBIT, CREDIT]), name="posting_direction_valid"
            ),
        ]


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
        constraints = [
            models.UniqueConstraint(fields=["program", "key"], name="idempotency_key_unique"),
        ]


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
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["program", "status", "created_at"]),
            models.Index(fields=["program", "beneficiary"], name="reward_beneficiary"),
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
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "credit entries"
        constraints = [
            models.UniqueConstraint(fields=["program", "nonce"], name="credit_nonce_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.operation} {self.amount:+d}"


class AuditEntry(models.Model):
    """Append-only audit trail (the database refuses updates and deletes)."""

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=255)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_type}:{self.object_id}"


# Models of other ledger areas live in sibling modules and are imported here, at the bottom,
# so Django registers them with the ledger app.
from ledger.models.operations import HeldReward, ReconciliationRun  # noqa: E402, F401
from ledger.models.payouts import PayoutBatch, PayoutCoverage, PayoutItem  # noqa: E402, F401
from ledger.models.webhooks import (  # noqa: E402, F401
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
