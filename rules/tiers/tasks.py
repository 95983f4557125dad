"""The nightly tier recompute (config/settings CELERY_BEAT_SCHEDULE "rules.tiers_recompute";
without a broker the inline scheduler runs it)."""

from __future__ import annotations

from celery import shared_task

from rules.tiers.services import tiers_recompute_all


@shared_task(name="rules.tiers_recompute")
def tiers_recompute() -> int:
    """Recompute every partner's tier; returns how many changed."""
    return len(tiers_recompute_all().changes)
