"""The payout rail interface (SPEC §13) and the registry of rails by name.

A rail moves the money of a batch's items to the beneficiaries. Execution books each item's
transfer and marks it `sent` in our database first; then it calls `Rail.send` with every item's
deterministic `idempotency_key` (`payout-item-{id}`), so that a retry after a crash between the
provider's answer and our commit asks the provider again with the same key and gets the same
payout back instead of a second one. `poll` asks the provider later how the sent payouts ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

RailStatus = Literal["sent", "paid", "failed"]


@dataclass(frozen=True)
class RailItem:
    """One payout item as a rail sees it: amount in minor units, payout details decrypted."""

    item_id: int
    idempotency_key: str
    amount: int
    currency: str
    method: str
    details: dict = field(hash=False, compare=False)
    participant_external_id: str
    note: str


@dataclass(frozen=True)
class RailResult:
    """What the provider said about one item: `sent` (accepted), `paid` or `failed`."""

    item_id: int
    status: RailStatus
    provider_ref: str = ""
    reason: str = ""


class Rail(Protocol):
    name: str

    def send(
        self, *, program_id: int, batch_id: int, items: Sequence[RailItem]
    ) -> list[RailResult]: ...

    def poll(self, *, program_id: int, provider_refs: Sequence[str]) -> list[RailResult]: ...


class UnknownRail(LookupError):
    """No rail is registered under that name."""


_RAILS: dict[str, Rail] = {}


def rail_register(rail: Rail) -> None:
    """Register (or replace, e.g. in a test) the rail for `rail.name`."""
    _RAILS[rail.name] = rail


def rail_get(name: str) -> Rail:
    try:
        return _RAILS[name]
    except KeyError:
        raise UnknownRail(name) from None


def rail_names() -> list[str]:
    return sorted(_RAILS)


def idempotency_key_for(item_id: int) -> str:
    """The key every call about this item carries, the same on every retry."""
    return f"payout-item-{item_id}"
