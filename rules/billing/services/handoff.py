"""The hand-off of a stored delivery to processing, once its row is committed.

The receiver schedules it in the transaction that stores the delivery; what it calls is the
worker layer's `rules.billing.tasks.delivery_enqueue` (Celery when a broker is configured,
else processing in this process), connected by BillingConfig.ready(), so the services never
import the tasks that call them (as rules.services.handoff does for events)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

Enqueue = Callable[[int], None]  # (delivery_pk) -> None; never raises

_enqueue: Enqueue | None = None


def delivery_handoff_connect(enqueue: Enqueue) -> None:
    global _enqueue
    _enqueue = enqueue


def delivery_handoff_on_commit(delivery_pk: int) -> None:
    """Process the delivery when the current transaction commits (at once outside one)."""
    if _enqueue is None:
        raise ImproperlyConfigured("No delivery hand-off connected (BillingConfig.ready() does it)")
    transaction.on_commit(partial(_enqueue, delivery_pk))
