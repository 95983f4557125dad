"""Background work of the ledger app.

With CELERY_BROKER_URL set, workers run these tasks and Celery beat runs the periodic ones
(settings.CELERY_BEAT_SCHEDULE). Without a broker, webhook messages are handed to a small pool of
threads after commit (WEBHOOK_INLINE_WORKERS) and the web process runs the periodic tasks itself (config/inline_scheduler.py); the
management commands that call the same functions (e.g. `manage.py confirm_due_rewards`) serve
cron setups.
"""

from __future__ import annotations

import logging

from celery import shared_task

from ledger.services.reconciliation_runs import NIGHTLY_ACTOR, reconciliation_record

logger = logging.getLogger(__name__)


# --- reconciliation ---------------------------------------------------------------------


@shared_task(name="ledger.reconcile_nightly")
def reconcile_nightly() -> str:
    """Run and store every integrity check (each program's run, and the whole ledger's);
    without a broker the inline scheduler calls it (or cron runs `manage.py reconcile`)."""
    return reconciliation_record(actor=NIGHTLY_ACTOR).status
