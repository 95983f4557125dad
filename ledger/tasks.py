"""Background work of the ledger app.

With CELERY_BROKER_URL set, workers run these tasks and Celery beat runs the periodic ones
(settings.CELERY_BEAT_SCHEDULE). Without a broker, webhook messages are handed to a daemon thread
after commit and the web process runs the periodic tasks itself (config/inline_scheduler.py); the
management commands that call the same functions (e.g. `manage.py confirm_due_rewards`) serve
cron setups.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable

from celery import shared_task
from django.conf import settings
from django.db import connections

from ledger.services import webhooks
from ledger.services.rewards import rewards_confirm_due

logger = logging.getLogger(__name__)
INLINE_DELIVERY_THREAD = "webhook-delivery"

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
    """Hand freshly committed messages to a worker, or, without a broker, to a daemon thread
    that sends them with a short timeout, so a slow receiver never holds up the request that
    caused the event. Whatever fails (or dies with the process) stays due for the sweep."""
    ids = list(message_ids)
    if not ids:
        return
    if settings.CELERY_BROKER_URL:
        webhook_deliver_messages.delay([str(m) for m in ids])
    else:
        threading.Thread(
            target=_deliver_inline, args=(ids,), name=INLINE_DELIVERY_THREAD, daemon=True
        ).start()


def _deliver_inline(message_ids: list[uuid.UUID]) -> None:
    try:
        webhooks.webhook_deliver_many(message_ids, timeout=settings.WEBHOOK_INLINE_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("Inline webhook delivery failed; the sweep will retry")
    finally:
        connections.close_all()  # this thread's own connections; nothing else would close them
