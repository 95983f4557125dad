"""``award_credits``: apply a credit operation to the beneficiary's credits (SPEC §5, §6).

``{"beneficiary", "operation", "amount"}``; without ``amount`` the operation's default amount
applies. Credits are a points wallet, not money."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from rules.action_registry import (
    BENEFICIARY,
    CheckContext,
    ParamField,
    PlanContext,
    Planned,
    RuleAction,
    register,
)
from rules.rewards.services.credits import credit_apply

if TYPE_CHECKING:
    from rules.action_registry import ActionOutcome, ActionStep
    from rules.phrases import PhraseReader


class AwardCredits(RuleAction):
    type = "award_credits"
    label = "Award credits"
    params_schema = {
        "type": "object",
        "required": ["operation"],
        "additionalProperties": False,
        "properties": {
            "beneficiary": {"$ref": "#/$defs/beneficiary"},
            "operation": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$", "maxLength": 64},
            "amount": {"$ref": "#/$defs/minor_units"},
        },
    }
    # The operation's suggestions are the program's operation set (the catalog fills them in).
    fields = (
        BENEFICIARY,
        ParamField("operation", "Operation", "text", empty="?"),
        ParamField(
            "amount",
            "Credits",
            "integer",
            hint="Optional: empty uses the operation's default amount.",
            minimum=1,
        ),
    )
    summary = ("{operation}", "amount {amount}")
    integer_params = ("amount",)
    order = 30
    phrase_order = 20

    def check(self, params: Mapping[str, Any], *, path: str, context: CheckContext) -> list:
        errors = super().check(params, path=path, context=context)
        # An unknown operation would be skipped on every event.
        operations = context.operations
        if operations is not None and params["operation"] not in operations:
            errors.append(
                {
                    "path": f"{path}.operation",
                    "message": f"operation {params['operation']!r} is not in the program's "
                    f"operation set ({', '.join(sorted(operations))})",
                }
            )
        return errors

    def plan(
        self,
        params: Mapping[str, Any],
        facts: Mapping[str, Any],
        *,
        role: str,
        context: PlanContext,
    ) -> Planned:
        # amount None: the operation's default amount applies (SPEC §5)
        return Planned(
            {"amount": params.get("amount"), "currency": None, "operation": params["operation"]}
        )

    def run(self, step: ActionStep, outcome: ActionOutcome) -> None:
        entry, _ = credit_apply(
            program=step.program,
            owner_id=step.action["beneficiary_id"],
            operation=step.action["operation"],
            amount=step.action.get("amount"),
            nonce=step.key,
            actor=step.actor,
        )
        outcome.credits.append(entry.pk)

    def explain(self, params: Mapping[str, Any], *, who: str, currency: str | None) -> str:
        amount = params.get("amount")
        credits = f"{amount:,} credits" if amount else "credits"
        return f"award {who} {credits} ({params.get('operation')})"

    def pays(self, params: Mapping[str, Any], *, who: str, currency: str) -> str:
        return f"{who}: {params.get('amount') or 'some'} credits (not money)"

    def draft(self, parser: PhraseReader, *, trigger: str) -> list[dict[str, Any]] | None:
        """ "give the referred user 100 points": CREDIT_ADD of 100 credits."""
        actions: list[dict[str, Any]] = []
        for segment in parser.segments():
            found = re.search(
                r"(?<![₹$€£¥\d.,])(\d[\d,]*)\s*(?:reward |loyalty |bonus )?points?\b", segment.text
            )
            if segment.claimed or not found or parser.compared(segment, found):
                continue
            roles = parser.roles_for(segment)
            parser.claim_segment(segment, found)
            for role in roles:
                actions.append(
                    {
                        "type": self.type,
                        "params": {
                            "beneficiary": role,
                            "operation": "CREDIT_ADD",
                            "amount": int(parser.number(found.group(1)) or 0),
                        },
                    }
                )
        return actions or None

    def defaults(self, *, currency: str) -> dict[str, Any]:
        return {"beneficiary": "referrer", "operation": "CREDIT_ADD"}


ACTION: Final = register(AwardCredits())
