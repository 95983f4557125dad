"""Partner tier services (stub: the recompute lands next)."""

from __future__ import annotations

from typing import Any


def tier_recompute_for_event(*, event: Any) -> None:
    """Recompute the tiers an event may have changed (no-op until tiers land)."""
    return None
