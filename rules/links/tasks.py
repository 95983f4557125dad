"""Periodic work of referral links (config/settings/base.py CELERY_BEAT_SCHEDULE; without a
broker the inline scheduler runs them)."""

from __future__ import annotations

from celery import shared_task

from rules.links.services.rollup import clicks_purge, clicks_rollup_recent


@shared_task(name="rules.clicks_rollup")
def clicks_rollup() -> int:
    return clicks_rollup_recent()


@shared_task(name="rules.clicks_purge")
def clicks_purge_old() -> int:
    return clicks_purge()
