"""Background work of the rules app. With CELERY_BROKER_URL set, Celery workers run it;
unset (the embedded default), it runs inline in the process that committed the event."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from rules.links.tasks import clicks_purge_old, clicks_rollup  # noqa: F401  (discovered with this module)
from rules.rewards.tasks import confirm_due_rewards  # noqa: F401  (discovered with this module)
from rules.services.event_batch import BATCH_SIZE, events_process_batch
from rules.services.processing import (
    event_handoff_mark,
    event_handoff_mark_many,
    event_process,
    events_requeue_stuck,
)

logger = logging.getLogger(__name__)

# Publishing gives up quickly when the broker is down: the event row is durable and the
# sweeper (requeue_stuck_events) hands it off later, so the request need not wait.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}


@shared_task(name="rules.process_event", acks_late=True)
def process_event(event_pk: int) -> str:
    # A failed attempt stores its next_attempt_at; the sweeper is the one retry path.
    return event_process(event_pk=event_pk).status


def event_enqueue(event_pk: int, *, marked: bool = False) -> None:
    """Hand an event to a worker, or process it here when there is no broker. Never raises:
    this runs after the event's commit, and a lost hand-off is recovered by the sweeper.
    ``marked``: the row already carries its hand-off lease (a new event is stored with it)."""
    if settings.CELERY_BROKER_URL:
        try:
            # Marked before publishing, so a worker's own retry time is never overwritten.
            if not marked:
                event_handoff_mark(event_pk=event_pk)
            process_event.apply_async((event_pk,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception:
            logger.exception("Could not queue event %s; the sweeper will pick it up", event_pk)
            try:
                event_handoff_mark(event_pk=event_pk, lost=True)
            except Exception:
                logger.exception("Could not mark event %s as not handed off", event_pk)
        return
    try:
        event_process(event_pk=event_pk)
    except Exception:
        logger.exception("Inline processing of event %s failed; it will be retried", event_pk)


def requeue_stuck(*, inline: bool | None = None) -> int:
    """Re-queue events that were lost, stuck or are due for a retry, in batches of
    BATCH_SIZE (processed here, or one task each for a worker, marked as handed off first);
    returns how many."""
    due = events_requeue_stuck()
    here = inline or (inline is None and not settings.CELERY_BROKER_URL)
    for start in range(0, len(due), BATCH_SIZE):
        chunk = due[start : start + BATCH_SIZE]
        if here:
            try:
                events_process_batch(event_pks=chunk)
            except Exception:
                logger.exception("Sweeping a batch of %d events failed; next sweep", len(chunk))
        else:
            event_handoff_mark_many(event_pks=chunk)
            events_enqueue_batch(chunk)
    return len(due)


@shared_task(name="rules.requeue_stuck_events")
def requeue_stuck_events() -> int:
    return requeue_stuck(inline=False)


@shared_task(name="rules.process_events", acks_late=True)
def process_events(event_pks: list[int]) -> dict[str, int]:
    """A batch of events (rules.services.event_batch): one claim, one transaction."""
    return vars(events_process_batch(event_pks=event_pks))


def events_enqueue_batch(event_pks: list[int]) -> None:
    """Hand a batch of committed events (stored with their hand-off lease when there is a
    broker) to a worker as one task, or process them here as one batch. Never raises."""
    if settings.CELERY_BROKER_URL:
        try:
            process_events.apply_async(
                (list(event_pks),), retry=True, retry_policy=PUBLISH_RETRY_POLICY
            )
        except Exception:
            logger.exception(
                "Could not queue %d events; the sweeper will pick them up", len(event_pks)
            )
            for pk in event_pks:
                try:
                    event_handoff_mark(event_pk=pk, lost=True)
                except Exception:
                    logger.exception("Could not mark event %s as not handed off", pk)
        return
    try:
        events_process_batch(event_pks=event_pks)
    except Exception:
        logger.exception("Inline processing of a batch of events failed; they will be retried")
