"""Notifications to participants (SPEC section 12's emails), said by the layer that caused them.

The money domain knows *that* a reward was confirmed or a payout item was sent or failed; it
must not know how partners are told (the portal's emails live above it). So it calls
`notification_emit(...)` inside the transaction that made the change, and whatever registered a
handler at `AppConfig.ready()` (builder/portal: a durable email outbox row in that same
transaction, sent after commit and retried) does the rest. With no handler registered the call
does nothing, so the money write never depends on mail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

NOTIFICATION_KINDS = ("reward.confirmed", "payout.sent", "payout.failed")


class NotificationHandler(Protocol):
    def __call__(
        self, kind: str, *, program_id: int, beneficiary: str, data: Mapping[str, Any]
    ) -> None: ...


_HANDLERS: list[Callable[..., None]] = []


def notification_handler_register(handler: NotificationHandler) -> None:
    """Add a handler (idempotent). Called from an app's `ready()`."""
    if handler not in _HANDLERS:
        _HANDLERS.append(handler)


def notification_emit(
    kind: str, *, program_id: int, beneficiary: str, data: Mapping[str, Any]
) -> None:
    """Tell every registered handler; call it inside the transaction of the change, so a rolled
    back change notifies nobody. `beneficiary` is the participant's external id (the money
    domain's name for participants); `data` is JSON-serialisable (ids, amounts in minor units,
    currency, reasons); handlers render it."""
    if kind not in NOTIFICATION_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    for handler in _HANDLERS:
        handler(kind, program_id=program_id, beneficiary=beneficiary, data=data)
