"""A tier's criteria: what they may hold, checked before anything is stored (the admin, the
API and the services all ask `criteria_errors`)."""

from __future__ import annotations

from typing import Any, Final

WINDOW_DAYS_DEFAULT: Final = 90
WINDOW_DAYS_MAX: Final = 3660  # ten years: a window further back reads no data anyway
# A bigint column holds every amount; a larger minimum could never be met.
AMOUNT_MAX: Final = 2**63 - 1
COUNT_MAX: Final = 10**9

# Criterion → what it counts (rules/tiers/models.py); the stats of a window carry the same names.
MINIMUMS: Final = {
    "min_referred_revenue": "referred_revenue",
    "min_conversions": "conversions",
    "min_active_referrals": "active_referrals",
}
KEYS: Final = frozenset({"window_days", *MINIMUMS})


def _whole(value: Any) -> bool:
    # JSON true is an int in Python: refused, as is 1.0 (a float is never a count of units).
    return isinstance(value, int) and not isinstance(value, bool)


def criteria_errors(criteria: Any) -> list[str]:
    """What is wrong with a criteria object, [] when nothing."""
    if not isinstance(criteria, dict):
        return ["criteria must be a JSON object"]
    errors = [
        f"unknown criterion {str(k)[:60]!r} (known: {', '.join(sorted(KEYS))})"
        for k in criteria
        if k not in KEYS
    ]
    if "window_days" in criteria:
        days = criteria["window_days"]
        if not _whole(days) or not 1 <= days <= WINDOW_DAYS_MAX:
            errors.append(f"window_days must be a whole number of days, 1 to {WINDOW_DAYS_MAX}")
    for key in MINIMUMS:
        if key not in criteria:
            continue
        value, top = criteria[key], AMOUNT_MAX if key == "min_referred_revenue" else COUNT_MAX
        if not _whole(value) or not 0 <= value <= top:
            unit = "minor units" if key == "min_referred_revenue" else "a count"
            errors.append(f"{key} must be a whole number ({unit}), 0 to {top}")
    return errors


def window_days(criteria: dict[str, Any]) -> int:
    return int(criteria.get("window_days", WINDOW_DAYS_DEFAULT))


def criteria_met(criteria: dict[str, Any], stats: dict[str, int]) -> bool:
    """Whether every criterion holds for the stats of the tier's window."""
    return all(stats[stat] >= criteria.get(key, 0) for key, stat in MINIMUMS.items())
