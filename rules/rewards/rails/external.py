"""The `external` rail: the company pays with its own means (SPEC §13). Executing sends the
webhook `payout.requested` once per item (through the transactional outbox, in the execution's
own database transaction, so it exists exactly when the transfer does), then waits for
`POST P/payout-batches/{id}/items/{item}/confirm` or `.../fail`.

The message carries the payout method masked: webhook messages are stored and shown in the
delivery log, so the company pays from its own partner records, matched by participant id.
"""

from __future__ import annotations

from collections.abc import Sequence

from config.platform.models import Program
from config.platform.webhooks.services import webhook_emit
from rules.rewards.rails.base import RailItem, RailResult, rail_register

PAYOUT_REQUESTED = "payout.requested"


class ExternalRail:
    name = "external"
    local = True  # writes outbox rows only: runs inside the execution's transaction

    def send(
        self, *, program_id: int, batch_id: int, items: Sequence[RailItem]
    ) -> list[RailResult]:
        program = Program.objects.get(pk=program_id)
        for item in items:
            webhook_emit(
                program=program,
                event_type=PAYOUT_REQUESTED,
                payload={
                    "batch": batch_id,
                    "item": item.item_id,
                    "participant": item.participant_external_id,
                    "amount": item.amount,
                    "currency": item.currency,
                    "method": item.method,
                    "details": item.details,
                    "idempotency_key": item.idempotency_key,
                    "note": item.note,
                },
            )
        return [
            RailResult(item_id=i.item_id, status="sent", provider_ref=i.idempotency_key)
            for i in items
        ]

    def poll(self, *, program_id: int, provider_refs: Sequence[str]) -> list[RailResult]:
        return []


rail_register(ExternalRail())
