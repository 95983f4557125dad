"""Background work of the billing connector: with CELERY_BROKER_URL set, Celery workers
process deliveries; unset, they are processed in the process that committed them."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from rules.billing.selectors import deliveries_due
from rules.billing.services.processing import delivery_mark_due, delivery_process

logger = logging.getLogger(__name__)

PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}


@shared_task(name="billing.process_delivery", acks_late=True)
def process_delivery(delivery_pk: int) -> str:
    return delivery_process(delivery_pk=delivery_pk)


def delivery_enqueue(delivery_pk: int) -> None:
    """Hand a committed delivery to a worker, or process it here without a broker. Never
    raises: the provider already has its 200, and the sweep recovers a lost hand-off."""
    if settings.CELERY_BROKER_URL:
        try:
            process_delivery.apply_async(
                (delivery_pk,), retry=True, retry_policy=PUBLISH_RETRY_POLICY
            )
        except Exception:
            logger.exception("Could not queue billing delivery %s; the sweep will", delivery_pk)
            try:  # due for the sweep now rather than after the lease
                delivery_mark_due(delivery_pk=delivery_pk)
            except Exception:
                logger.exception("Could not mark billing delivery %s as due", delivery_pk)
        return
    try:
        delivery_process(delivery_pk=delivery_pk)
    except Exception:
        logger.exception("Inline processing of billing delivery %s failed", delivery_pk)


def deliveries_sweep(*, inline: bool | None = None) -> int:
    """Process deliveries whose hand-off was lost or whose retry is due; returns how many."""
    due = deliveries_due()
    for pk in due:
        if inline or (inline is None and not settings.CELERY_BROKER_URL):
            delivery_process(delivery_pk=pk)
        else:
            delivery_enqueue(pk)
    return len(due)


@shared_task(name="billing.deliveries_sweep")
def sweep_deliveries() -> int:
    return deliveries_sweep()
