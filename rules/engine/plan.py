"""What a matched rule's actions would do for these facts: pure and deterministic.

Each action type plans itself (rules.actions.<type>); this module walks the definition's
actions and resolves their beneficiaries. The pipeline runs the plan through the ledger
services (and enforces limits); the test and simulate endpoints show it as-is. An action that
cannot run is kept, with ``skipped`` saying why, so the result records it instead of dropping
it silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules.action_registry import PlanContext, action_for


def _beneficiary_id(facts: Mapping[str, Any], role: str) -> str | None:
    participant = facts.get(role)
    if not isinstance(participant, Mapping):
        return None
    external_id = participant.get("id")
    return None if external_id in (None, "") else str(external_id)


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
    context = PlanContext(
        currency=currency, direct_rate_bps=direct_rate_bps, override_rate_bps=override_rate_bps
    )
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
        action_type = action_for(kind)
        if action_type is None:
            entry.update(amount=None, currency=None)
            reason: str | None = f"unknown action type {kind}"
        else:
            planned = action_type.plan(params, facts, role=role, context=context)
            entry.update(planned.values)
            reason = planned.skipped
        if beneficiary_id is None:
            reason = f"beneficiary {role} is missing"
        entry["skipped"] = reason
        plan.append(entry)
    return plan
