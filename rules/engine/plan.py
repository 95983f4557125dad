"""What a matched rule's actions would do for these facts: pure and deterministic.

The pipeline runs the plan through the ledger services (and enforces limits); the test and
simulate endpoints show it as-is. An action that cannot run is kept, with ``skipped`` saying
why, so the result records it instead of dropping it silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .operators import MISSING, is_number, resolve


def _beneficiary_id(facts: Mapping[str, Any], role: str) -> str | None:
    participant = facts.get(role)
    if not isinstance(participant, Mapping):
        return None
    external_id = participant.get("id")
    return None if external_id in (None, "") else str(external_id)


# The largest amount the ledger takes, in minor units (rules/schema.json `minor_units`, the API's
# AmountField). A base above it is no real sale: bad data, skipped rather than paid or capped.
MAX_AMOUNT = 10**15


def _commission(
    params: Mapping[str, Any],
    facts: Mapping[str, Any],
    role: str,
    direct_rate_bps: int | None,
    override_rate_bps: int | None,
    currency: str,
) -> tuple[int | None, int | None, str | None]:
    """(amount, rate_bps, skip reason). Whatever the event's data holds, the answer is an amount
    the ledger can book in the program's currency, or a reason: never an exception, which would
    fail the event and retry it for ever."""
    rate = params.get("rate_bps") or (override_rate_bps if role == "parent" else direct_rate_bps)
    of = params["of"]
    value = resolve(facts, of)
    if not rate or rate <= 0:
        return None, rate, "no commission rate (set rate_bps or the program's rate)"
    if value is MISSING or value is None:
        return None, rate, f"field {of} is missing"
    if not is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        return None, rate, f"field {of} is not a number"
    if abs(value) > MAX_AMOUNT:
        return None, rate, f"field {of} is above the money limit {MAX_AMOUNT}"
    event_currency = resolve(facts, "event.currency")
    if event_currency is not MISSING and (
        not isinstance(event_currency, str) or event_currency.upper() != currency
    ):
        # A commission on a sale in another currency would pay the wrong amount: 1% of
        # 10,000 JPY is not 1% of 10,000 INR.
        return None, rate, f"event currency {event_currency!r} is not the program's {currency}"
    # Decimal(str(...)) so that a float base such as 1999.99 is floored exactly as written
    amount = int(Decimal(str(value)) * rate // 10000)
    cap = params.get("cap")
    if cap is not None:
        amount = min(amount, cap)
    if amount <= 0:
        return None, rate, f"commission on {of}={value} at {rate} bps is zero"
    if amount > MAX_AMOUNT:
        return None, rate, f"commission {amount} is above the money limit {MAX_AMOUNT}"
    return amount, rate, None


def plan_actions(
    definition: Mapping[str, Any],
    facts: Mapping[str, Any],
    *,
    currency: str,
    direct_rate_bps: int | None = None,
    override_rate_bps: int | None = None,
) -> list[dict[str, Any]]:
    """One entry per action of ``definition``: {"index", "type", "beneficiary" (role),
    "beneficiary_id", "amount", "currency", "reward_type" | "operation", "skipped"}.

    ``currency`` is the program's; percent_commission's ``rate_bps`` defaults to the
    program's direct rate, or to its override rate when the beneficiary is ``parent``.
    """
    plan: list[dict[str, Any]] = []
    for index, action in enumerate(definition.get("actions") or ()):
        params = action.get("params") or {}
        kind = action["type"]
        role = params.get("beneficiary") or "referrer"
        beneficiary_id = _beneficiary_id(facts, role)
        entry: dict[str, Any] = {
            "index": index,
            "type": kind,
            "beneficiary": role,
            "beneficiary_id": beneficiary_id,
        }
        reason: str | None = None
        if kind == "credit_reward":
            entry.update(
                amount=params["amount"],
                currency=params["currency"],
                reward_type=params["reward_type"],
            )
            if params["currency"] != currency:
                reason = f"currency {params['currency']} differs from the program's {currency}"
        elif kind == "percent_commission":
            amount, rate, reason = _commission(
                params, facts, role, direct_rate_bps, override_rate_bps, currency
            )
            entry.update(
                amount=amount, currency=currency, reward_type=params["reward_type"], rate_bps=rate
            )
        elif kind == "award_credits":
            # amount None: the operation's default amount applies (SPEC §5)
            entry.update(amount=params.get("amount"), currency=None, operation=params["operation"])
        else:
            entry.update(amount=None, currency=None)
            reason = f"unknown action type {kind}"
        if beneficiary_id is None:
            reason = f"beneficiary {role} is missing"
        entry["skipped"] = reason
        plan.append(entry)
    return plan
