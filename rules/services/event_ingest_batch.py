"""Events in batches (SPEC §14): ingesting many in one request (`POST P/events/batch`).

Ingesting (`events_ingest_batch`): each event goes through event_ingest exactly as
`POST P/events` sends it (same validation, idempotency by id, attribute merge, attribution),
committed on its own, so one event's refusal never undoes another; their hand-offs are
collected (rules.services.handoff.event_handoff_batched) and handed off together, as one batch
task on a broker or batched processing in this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from config.platform.exceptions import DomainError
from config.platform.models import Program
from rules.models import Event
from rules.services.events import event_ingest
from rules.services.handoff import event_handoff_batched

MAX_EVENTS = 1000  # per request


@dataclass
class IngestResult:
    event: Event | None
    created: bool
    error: DomainError | None = None


def events_ingest_batch(
    *, program: Program, items: Sequence[dict[str, Any] | DomainError], actor: str
) -> list[IngestResult]:
    """Store each event (validated fields of POST P/events, or the error that answers it) as
    event_ingest does, in order; hand the new ones off together. Then, when they were
    processed in this process, read them back as stored."""
    results: list[IngestResult] = []
    with event_handoff_batched() as handed:
        for item in items:
            if isinstance(item, DomainError):
                results.append(IngestResult(None, False, item))
                continue
            try:
                event, created = event_ingest(
                    program=program,
                    event_id=item["id"],
                    type=item["type"],
                    user=item["user"],
                    occurred_at=item["occurred_at"],
                    attributes=item["attributes"],
                    data=item["data"],
                    click_id=item["click_id"],
                    coupon=item["coupon"],
                    actor=actor,
                )
            except DomainError as exc:
                results.append(IngestResult(None, False, exc))
                continue
            results.append(IngestResult(event, created))
    if handed and not _broker():
        # Processed in this process: show the stored state, as POST P/events does.
        fresh = Event.objects.select_related("participant").in_bulk(handed)
        for result in results:
            if result.event is not None and result.event.pk in fresh:
                result.event = fresh[result.event.pk]
    return results


def _broker() -> bool:
    return bool(settings.CELERY_BROKER_URL)
