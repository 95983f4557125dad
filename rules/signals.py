"""Signals only hand work off: a new event is queued for processing once its row is committed."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from rules.models import Event


@receiver(post_save, sender=Event, dispatch_uid="rules.event_hand_off")
def event_hand_off(sender, instance: Event, created: bool, **kwargs) -> None:
    if created:
        from rules.tasks import event_enqueue

        # An event stored with a hand-off lease (event_ingest, with a broker) is already marked.
        marked = instance.next_attempt_at is not None
        transaction.on_commit(partial(event_enqueue, instance.pk, marked=marked))
