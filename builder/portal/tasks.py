"""The portal's email work: the Celery tasks (`portal.email_send` for freshly committed
outbox rows, `portal.email_send_due`, the sweep run by beat or the inline scheduler) and,
without a broker, a one-thread pool per process that sends fresh rows (builder/portal/outbox.py
has the whole story)."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from celery import shared_task
from django.conf import settings
from django.db import connections

from builder.portal import delivery

logger = logging.getLogger(__name__)


@shared_task(name="portal.email_send_due")
def email_send_due() -> int:
    return delivery.email_deliver_due()


@shared_task(name="portal.email_send")
def email_send(ids: list[int]) -> int:
    return delivery.email_deliver_many(ids)


_inline_lock = threading.Lock()
_inline_pool: ThreadPoolExecutor | None = None
_inline_jobs: set[Future] = set()
INLINE_QUEUE = 1000  # hand-offs past it wait for the sweep


def _inline_reset() -> None:
    """A forked child (a gunicorn worker) has none of its parent's threads."""
    global _inline_pool, _inline_lock
    _inline_lock = threading.Lock()
    _inline_pool = None
    _inline_jobs.clear()


os.register_at_fork(after_in_child=_inline_reset)


def email_dispatch(ids: list[int]) -> None:
    """Hand committed outbox rows to a worker, or without a broker to this process's pool.
    Runs after commit; never raises: a row that could not be handed off stays due for the
    sweep."""
    try:
        if settings.CELERY_BROKER_URL:
            email_send.delay(ids)
        elif not _inline_submit(ids):
            logger.warning("inline email queue is full; %d email(s) left to the sweep", len(ids))
    except Exception:
        logger.exception("could not hand off emails %s; the sweep will send them", ids)


def _inline_submit(ids: list[int]) -> bool:
    global _inline_pool
    with _inline_lock:
        if len(_inline_jobs) >= INLINE_QUEUE:
            return False
        if _inline_pool is None:
            _inline_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-email")
        future = _inline_pool.submit(_deliver_inline, ids)
        _inline_jobs.add(future)
    future.add_done_callback(_inline_done)
    return True


def _inline_done(future: Future) -> None:
    with _inline_lock:
        _inline_jobs.discard(future)


def _deliver_inline(ids: list[int]) -> None:
    try:
        delivery.email_deliver_many(ids)
    except Exception:
        logger.exception("inline email delivery failed; the sweep will retry")
    finally:
        connections.close_all()  # this pool thread's own connections


def email_inline_wait(timeout: float | None = None) -> bool:
    """Wait for the queued inline deliveries (tests, a graceful shutdown); False if some are
    still running after `timeout` seconds."""
    with _inline_lock:
        jobs = set(_inline_jobs)
    return not futures_wait(jobs, timeout=timeout).not_done
