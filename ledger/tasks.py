"""Background work of the ledger app.

With CELERY_BROKER_URL set, workers run these tasks and Celery beat runs the periodic ones
(settings.CELERY_BEAT_SCHEDULE). Without a broker, webhook messages are handed off inline after
commit and the web process runs the periodic tasks itself (config/inline_scheduler.py); the
management commands that call the same functions (e.g. `manage.py confirm_due_rewards`) serve
cron setups.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from celery import shared_task
from django.conf import settings

from ledger.services import webhooks
from ledger.services.rewards import rewards_confirm_due

# --- rewards ------------------------------------------------------------------------------


@shared_task(name="ledger.confirm_due_rewards")
def confirm_due_rewards() -> int:
    """Confirm pending rewards whose program's hold_days have passed (held ones are skipped)."""
    return rewards_confirm_due()


# --- reconciliation ---------------------------------------------------------------------


@shared_task(name="ledger.reconcile_nightly")
def reconcile_nightly() -> str:
    """Run and store every integrity check (each program's run, and the whole ledger's);
    without a broker the inline scheduler calls it (or cron runs `manage.py reconcile`)."""
    from ledger.services.reconciliation_runs import NIGHTLY_ACTOR, reconciliation_record

    return reconciliation_record(actor=NIGHTLY_ACTOR).status


# --- webhooks -----------------------------------------------------------------------------


@shared_task(name="ledger.webhook_deliver_due")
def webhook_deliver_due() -> int:
    return webhooks.webhook_deliver_due()


@shared_task(name="ledger.webhook_deliver_messages")
def webhook_deliver_messages(message_ids: list[str]) -> int:
    return webhooks.webhook_deliver_many([uuid.UUID(m) for m in message_ids])


def webhook_messages_dispatch(message_ids: Iterable[uuid.UUID]) -> None:
    """Hand freshly committed messages to a worker, or deliver them inline with a short
    timeout when no broker is configured (the sweep retries whatever fails)."""
    ids = list(message_ids)
    if not ids:
        return
    if settings.CELERY_BROKER_URL:
        webhook_deliver_messages.delay([str(m) for m in ids])
    else:
        webhooks.webhook_deliver_many(ids, timeout=settings.WEBHOOK_INLINE_TIMEOUT_SECONDS)
