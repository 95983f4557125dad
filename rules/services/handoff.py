"""The hand-off of a stored event to processing, once its row is committed.

`event_ingest` schedules it in the transaction that stores the event. What it calls is the
worker layer's `rules.tasks.event_enqueue` (a broker when one is configured, else processing
in this process), connected at start-up by RulesConfig.ready(): the services schedule the
hand-off without importing the tasks that call them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

Enqueue = Callable[..., None]  # (event_pk, *, marked: bool) -> None; never raises

_enqueue: Enqueue | None = None


def event_handoff_connect(enqueue: Enqueue) -> None:
    global _enqueue
    _enqueue = enqueue


def event_handoff_on_commit(event_pk: int, *, marked: bool, using: str | None = None) -> None:
    """Queue the event for processing when the current transaction commits (at once outside
    one). ``marked``: the row already carries its hand-off lease (stored with a broker)."""
    if _enqueue is None:
        raise ImproperlyConfigured("No event hand-off connected (RulesConfig.ready() does it)")
    transaction.on_commit(partial(_enqueue, event_pk, marked=marked), using=using)
