"""``credit_reward``: a fixed amount to the beneficiary, as a reward of a given type (SPEC §6).

``{"beneficiary", "amount", "currency", "reward_type"}``; the currency must be the program's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from config.platform.admin.common import money
from rules.action_registry import (
    BENEFICIARY,
    CheckContext,
    ParamField,
    PlanContext,
    Planned,
    RuleAction,
    register,
)
from rules.actions.rewarding import reward_book
from rules.explain import format_money

if TYPE_CHECKING:
    from rules.action_registry import ActionOutcome, ActionStep
    from rules.phrases import PhraseReader

_KIND: Final = (
    r"(?:\s*(?:in |as (?:a |an )?)?(vouchers?|coupon|gift card|cash|store credit|credits?))?"
)
# The words the offline drafter reads as a reward type.
REWARD_TYPE_WORDS: Final = {
    "voucher": "voucher",
    "vouchers": "voucher",
    "coupon": "voucher",
    "gift card": "voucher",
    "cash": "cash",
    "credit": "credit",
    "credits": "credit",
    "store credit": "credit",
}


class CreditReward(RuleAction):
    type = "credit_reward"
    label = "Credit reward"
    params_schema = {
        "type": "object",
        "required": ["amount", "currency", "reward_type"],
        "additionalProperties": False,
        "properties": {
            "beneficiary": {"$ref": "#/$defs/beneficiary"},
            "amount": {"$ref": "#/$defs/minor_units"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "reward_type": {"$ref": "#/$defs/reward_type"},
        },
    }
    fields = (
        BENEFICIARY,
        ParamField("amount", "Amount", "money", hint="In {currency}; stored in minor units."),
        ParamField("currency", "Currency", "currency"),
        ParamField(
            "reward_type", "Reward type", "choice", options=("cash", "voucher", "credit", "points")
        ),
    )
    summary = ("{amount}", "{reward_type}")
    integer_params = ("amount",)
    books_reward = True
    order = 10
    phrase_order = 30

    def check(self, params: Mapping[str, Any], *, path: str, context: CheckContext) -> list:
        errors = super().check(params, path=path, context=context)
        # A foreign currency would be skipped on every event.
        if context.currency is not None and params["currency"] != context.currency:
            errors.append(
                {
                    "path": f"{path}.currency",
                    "message": f"currency {params['currency']} differs from the program's "
                    f"{context.currency}",
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
        planned = Planned(
            {
                "amount": params["amount"],
                "currency": params["currency"],
                "reward_type": params["reward_type"],
            }
        )
        if params["currency"] != context.currency:
            planned.skipped = (
                f"currency {params['currency']} differs from the program's {context.currency}"
            )
        return planned

    def run(self, step: ActionStep, outcome: ActionOutcome) -> None:
        reward_book(step, outcome)

    def explain(self, params: Mapping[str, Any], *, who: str, currency: str | None) -> str:
        amount = format_money(params["amount"], params["currency"])
        reward_type = params.get("reward_type", "cash")
        what = f"a {amount} voucher" if reward_type == "voucher" else f"{amount} in {reward_type}"
        return f"give {who} {what}"

    def pays(self, params: Mapping[str, Any], *, who: str, currency: str) -> str:
        amount = money(params.get("amount"), params.get("currency") or currency)
        return f"{who}: {amount} ({params.get('reward_type', 'cash')}) per event"

    def draft(self, parser: PhraseReader, *, trigger: str) -> list[dict[str, Any]] | None:
        """ "give the referrer 500 rupees voucher", "50 rupees to both", "$10 to the friend"."""
        actions: list[dict[str, Any]] = []
        for segment in parser.segments():
            if segment.claimed:
                continue
            found = re.search(parser.MONEY + _KIND, segment.text)
            if not found or not (found.group(1) or found.group(3) or segment.verb):
                continue
            if parser.compared(segment, found):
                continue  # "worth over 3000 rupees": a condition not understood, not a reward
            parsed = parser.money(found.group(1), found.group(2), found.group(3))
            if parsed is None:
                continue
            roles = parser.roles_for(segment)
            parser.claim_segment(segment, found)
            kind = found.group(4) or ""
            if not kind:
                other = re.search(r"\b(" + "|".join(REWARD_TYPE_WORDS) + r")\b", segment.text)
                if other:
                    kind = other.group(1)
                    parser.consume(segment.start + other.start(), segment.start + other.end())
            reward_type = REWARD_TYPE_WORDS.get(kind.strip())
            if reward_type is None:
                reward_type = "cash"
                parser.warnings.append("no reward type given (voucher, cash, credit); assumed cash")
            for role in roles:
                actions.append(
                    {
                        "type": self.type,
                        "params": {
                            "beneficiary": role,
                            "amount": parsed[0],
                            "currency": parsed[1],
                            "reward_type": reward_type,
                        },
                    }
                )
        return actions or None

    def defaults(self, *, currency: str) -> dict[str, Any]:
        return {"beneficiary": "referrer", "currency": currency, "reward_type": "cash"}


ACTION: Final = register(CreditReward())
