"""Ledger: design overview.

Every account and transaction belongs to a **Program** (the tenant, config/platform/models.py),
which fixes a currency. Money moves only as a **Transaction** of two or more **Postings** whose
debits equal its credits per currency. Transactions and postings are append-only: PostgreSQL
triggers refuse UPDATE, DELETE and TRUNCATE, and a deferred constraint trigger refuses an
unbalanced transaction at commit (migration 0002 and its `.sql` files). Corrections are new transactions:

* ``posted``   an ordinary transfer;
* ``pending``  two-phase: reserves amounts (pending totals) until a ``post`` or ``void``
  transaction resolves it, exactly once (unique ``resolves``);
* ``post`` / ``void``  resolve a pending one; they copy its postings so every transaction,
  however it came about, is a balanced set of postings;
* ``reversal`` mirrors a posted transaction, at most once (unique ``reverses``).

Stored balances are kept per account in **AccountBalance** rows (posted and pending debit and
credit totals), updated in the same database transaction as the postings. An account may have
several balance *shards*: a hot account (one that every booking of a kind debits) spreads concurrent
writers over shard rows instead of serialising every reward on one row; reading a balance sums
at most a handful of rows. ``no_overdraft`` accounts have one shard and are updated with a
conditional UPDATE, so no interleaving can take them below zero.

The books know nothing of referrals, rules or rewards: a transaction carries a free-form
``reference`` to its source, and the layers above register which references they own
(``TransactionOwner``) so that only their own services move those transactions.
**ReconciliationRun** stores each run of the integrity checks, which upper layers register too.
The tenant (**Program**) and the platform's records live in config/platform/models.py.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.platform.models import Program

DEBIT, CREDIT = "debit", "credit"
DIRECTIONS = [(DEBIT, "debit"), (CREDIT, "credit")]


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


class ReconciliationRun(models.Model):
    """One run of every integrity check (SPEC §8), as the API, the admin, the `reconcile`
    command or the nightly schedule ran it. ``program`` is empty for a run over all programs."""

    class Status(models.TextChoices):
        CLEAN = "clean"
        DISCREPANCIES = "discrepancies"

    program = models.ForeignKey(
        "ledger.Program",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliation_runs",
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    checks = models.JSONField(default=list)
    findings = models.JSONField(default=list)
    actor = models.CharField(max_length=255)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        get_latest_by = ["finished_at", "id"]

    def __str__(self) -> str:
        return f"Reconciliation {self.pk} ({self.status})"
