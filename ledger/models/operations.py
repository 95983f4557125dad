"""Operator console models: stored reconciliation runs and the fraud review queue."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from ledger.models import Reward


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


class HeldRewardManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().exclude(hold_reason="").filter(status=Reward.Status.PENDING)


class HeldReward(Reward):
    """The fraud review queue: pending rewards held by a signal, awaiting an operator's decision
    (release, then confirm; or reverse)."""

    objects: ClassVar[HeldRewardManager] = HeldRewardManager()

    class Meta:
        proxy = True
        verbose_name = "held reward"
        verbose_name_plural = "held rewards (review queue)"
        permissions = [("review_reward", "Can release or reverse held rewards")]
