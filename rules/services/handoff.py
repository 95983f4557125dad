"""The hand-off of a stored event to processing, once its row is committed.

`event_ingest` schedules it in the transaction that stores the event. What it calls is the
worker layer's `rules.tasks.event_enqueue` (a broker when one is configured, else processing
in this process), connected at start-up by RulesConfig.ready(): the services schedule the
hand-off without importing the tasks that call them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

Enqueue = Callable[..., None]  # (event_pk, *, marked: bool) -> None; never raises
EnqueueMany = Callable[[list[int]], None]  # (event_pks) -> None, stored with their lease

_enqueue: Enqueue | None = None
_enqueue_many: EnqueueMany | None = None
_collecting = threading.local()


def event_handoff_connect(enqueue: Enqueue, *, many: EnqueueMany | None = None) -> None:
    """`many` hands off a batch of committed events at once (a batch task, or batched
    processing in this process); without it a batch is handed off event by event."""
    global _enqueue, _enqueue_many
    _enqueue = enqueue
    _enqueue_many = many


@contextmanager
def event_handoff_batched() -> Iterator[list[int]]:
    """Within it, events stored outside a transaction block (each committed by itself, as
    event_ingest does) are not handed off one by one but collected, and handed off together
    when it ends. An event rolled back after it was collected is simply not there to claim."""
    if _enqueue is None:
        raise ImproperlyConfigured("No event hand-off connected (RulesConfig.ready() does it)")
    pks: list[int] = []
    _collecting.pks = pks
    try:
        yield pks
    finally:
        _collecting.pks = None
    if not pks:
        return
    if _enqueue_many is not None:
        _enqueue_many(pks)
    else:
        for pk in pks:
            _enqueue(pk, marked=True)


def event_handoff_on_commit(event_pk: int, *, marked: bool, using: str | None = None) -> None:
    """Queue the event for processing when the current transaction commits (at once outside
    one). ``marked``: the row already carries its hand-off lease (stored with a broker)."""
    if _enqueue is None:
        raise ImproperlyConfigured("No event hand-off connected (RulesConfig.ready() does it)")
    collected = getattr(_collecting, "pks", None)
    if collected is not None:
        transaction.on_commit(partial(collected.append, event_pk), using=using)
        return
    transaction.on_commit(partial(_enqueue, event_pk, marked=marked), using=using)
