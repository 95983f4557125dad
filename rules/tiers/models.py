"""Partner tiers (issue 15 item 7): design overview.

A program defines **Tier** rows (Bronze, Silver, Gold), each with a ``rank`` and ``criteria``
over a rolling window of ``window_days`` (90 days unless given):

- ``min_referred_revenue`` (minor units of the program currency): the net revenue of the people
  the partner referred: the ``amount`` of their purchase, subscription_started and
  subscription_renewed events in the window, less their refund events' amounts in the window
  (never below zero). Events in another currency than the program's are not counted.
- ``min_conversions``: how many such revenue events there were.
- ``min_active_referrals``: how many of the people the partner referred had any event in the
  window.

Only processed events count (and the one being processed). A criterion left out is no
requirement; a tier without criteria is the floor everyone stands on. A partner's tier is the
highest-ranked tier whose every criterion is met; ``Participant.tier`` stores its key ("" for
none) so the engine reads ``referrer.tier`` without a query of its own.

A **TierChange** row records every change (from, to, why, the figures that decided it),
alongside an audit entry and a ``participant.tier_changed`` webhook written to the outbox in
the same transaction, so a change is announced exactly when it is kept.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.platform.models import Program
from rules.models import Participant
from rules.tiers.criteria import criteria_errors

# Ranks stay far below the column's limit: replacing a program's tiers parks the kept ones at
# rank + RANK_PARK while it renumbers them (rules.tiers.services.tiers_replace).
RANK_MAX = 1_000_000
RANK_PARK = 2_000_000
# A tier key is what rules compare with (`referrer.tier equals "gold"`): a lower-case slug.
TIER_KEY_CHECK = r"\A[a-z0-9][a-z0-9_-]{0,63}\Z"


class Tier(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="tiers")
    key = models.CharField(
        max_length=64,
        help_text='What rules compare with: referrer.tier equals "gold" (lower-case letters, '
        "digits, - and _)",
    )
    name = models.CharField(max_length=100, help_text="What partners read, e.g. Gold")
    rank = models.PositiveIntegerField(
        validators=[MaxValueValidator(RANK_MAX)],
        help_text="Higher is better; the highest tier met wins (0 to 1,000,000)",
    )
    criteria = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"window_days": 90, "min_referred_revenue": minor units, '
        '"min_conversions": n, "min_active_referrals": n}',
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["program", "key"], name="tier_key_unique"),
            models.UniqueConstraint(fields=["program", "rank"], name="tier_rank_unique"),
            models.CheckConstraint(condition=Q(key__regex=TIER_KEY_CHECK), name="tier_key_slug"),
            # The parked rank of a tiers_replace (rank + RANK_PARK) is allowed while it runs.
            models.CheckConstraint(
                condition=Q(rank__lte=RANK_MAX + RANK_PARK), name="tier_rank_max"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        errors = criteria_errors(self.criteria)
        if errors:
            raise ValidationError({"criteria": errors})


class TierChange(models.Model):
    """A partner's tier changed. Append-only, in the database too (migration 0002's triggers,
    like the audit log's): the history of who was Gold when is not rewritten."""

    class Reason(models.TextChoices):
        CONVERSION = "conversion", "An event of a referred person"
        NIGHTLY = "nightly", "The nightly recompute"
        RECOMPUTE = "recompute", "Recomputed by an operator"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="tier_changes"
    )
    from_tier = models.CharField(max_length=64, blank=True, default="")
    to_tier = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    # The event whose processing made the change (reason "conversion").
    event_id = models.CharField(max_length=255, blank=True, default="")
    # The figures that decided, per window: {"90": {"referred_revenue", "conversions", ...}}.
    stats = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["participant", "at"], name="tierchange_participant_at")]

    def __str__(self) -> str:
        return f"{self.participant_id}: {self.from_tier or '—'} → {self.to_tier or '—'}"
