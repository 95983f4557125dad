"""Webhook delivery work: the sweep, the Celery task for fresh messages, and without a broker a
small per-process pool of delivery threads (WEBHOOK_INLINE_WORKERS)."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from celery import shared_task
from django.conf import settings
from django.db import connections

from config.platform.webhooks import delivery

logger = logging.getLogger(__name__)
INLINE_DELIVERY_THREAD = "webhook-delivery"


@shared_task(name="ledger.webhook_deliver_due")
def webhook_deliver_due() -> int:
    return delivery.webhook_deliver_due()


@shared_task(name="ledger.webhook_deliver_messages")
def webhook_deliver_messages(message_ids: list[str]) -> int:
    return delivery.webhook_deliver_many([uuid.UUID(m) for m in message_ids])


# Without a broker, deliveries run on one small pool per process: a burst of changes (120 quick
# rewards) queues jobs for a few threads instead of starting a thread, and opening a database
# connection, per change. Jobs past the queue limit are left to the sweep (the messages stay due).
_inline_lock = threading.Lock()
_inline_pool: ThreadPoolExecutor | None = None
_inline_jobs: set[Future] = set()


def _inline_reset() -> None:
    """In a forked child (gunicorn workers of a preloaded master) the parent's threads do not
    exist: start a fresh pool there on first use."""
    global _inline_pool, _inline_lock
    _inline_lock = threading.Lock()
    _inline_pool = None
    _inline_jobs.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_inline_reset)


def _inline_submit(message_ids: list[uuid.UUID]) -> bool:
    """Queue one delivery job on the process's pool; False when the queue is full."""
    global _inline_pool
    with _inline_lock:
        if len(_inline_jobs) >= settings.WEBHOOK_INLINE_QUEUE:
            return False
        if _inline_pool is None:
            _inline_pool = ThreadPoolExecutor(
                max_workers=max(1, settings.WEBHOOK_INLINE_WORKERS),
                thread_name_prefix=INLINE_DELIVERY_THREAD,
            )
        future = _inline_pool.submit(_deliver_inline, message_ids)
        _inline_jobs.add(future)
    future.add_done_callback(_inline_done)
    return True


def _inline_done(future: Future) -> None:
    with _inline_lock:
        _inline_jobs.discard(future)


def webhook_inline_wait(timeout: float | None = None) -> bool:
    """Wait until every queued inline delivery has finished (tests, a graceful shutdown).
    Returns False if some are still running after `timeout` seconds."""
    with _inline_lock:
        jobs = set(_inline_jobs)
    return not futures_wait(jobs, timeout=timeout).not_done


def webhook_messages_dispatch(message_ids: Iterable[uuid.UUID]) -> None:
    """Hand freshly committed messages to a worker, or, without a broker, to the process's
    delivery pool, which sends them with a short timeout, so a slow receiver never holds up the
    request that caused the event. Whatever fails, waits past a full queue or dies with the
    process stays due for the sweep."""
    ids = list(message_ids)
    if not ids:
        return
    if settings.CELERY_BROKER_URL:
        webhook_deliver_messages.delay([str(m) for m in ids])
    elif not _inline_submit(ids):
        logger.warning(
            "Inline webhook delivery queue is full; %d message(s) left to the sweep", len(ids)
        )


def _deliver_inline(message_ids: list[uuid.UUID]) -> None:
    try:
        delivery.webhook_deliver_many(message_ids, timeout=settings.WEBHOOK_INLINE_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("Inline webhook delivery failed; the sweep will retry")
    finally:
        # This pool thread's own connections, after every job: an idle pool holds none.
        connections.close_all()
