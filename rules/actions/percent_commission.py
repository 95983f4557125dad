"""``percent_commission``: a share of a numeric field of the event, as a reward (SPEC §6).

``{"beneficiary", "rate_bps", "of": "<field path>", "reward_type", "cap"}``: amount =
floor(value * rate_bps / 10000), capped. Without ``rate_bps``, the program's direct rate
applies, or its override rate when the beneficiary is ``parent``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from config.platform.admin.common import money
from config.platform.currencies import MAX_AMOUNT
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
from rules.catalog import field_type
from rules.engine.operators import MISSING, is_number, resolve
from rules.explain import money_or_units, words
from rules.validation import NUMERIC_TYPES

if TYPE_CHECKING:
    from rules.action_registry import ActionOutcome, ActionStep
    from rules.phrases import PhraseReader

_RATE: Final = r"(\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)"
_OF: Final = (
    r"(?:\s+(?:commission|override|cut|share|cashback))?(?:\s+(?:of|on|from)\s+"
    r"(?:the |every |each |all |their |any |his |her )?(?:order|purchase|sale|subscription|"
    r"payment|amount|revenue|spend|transaction)?s?(?: (?:value|amount|total))?)?"
)
_CAP: Final = (
    r"\b(?:capped at|with a cap of|cap(?:ped)? of|cap|up to|max(?:imum)?(?: of)?|at most|"
    r"no more than|not more than|limited to)\s+"
)
_FLOOR: Final = r"\b(?:minimum|min\.?|at least|no less than)\s+(?:(?:of|payout|reward)\s+)*"


def _commission(
    params: Mapping[str, Any], facts: Mapping[str, Any], role: str, context: PlanContext
) -> tuple[int | None, int | None, str | None]:
    """(amount, rate_bps, skip reason). Whatever the event's data holds, the answer is an amount
    the ledger can book in the program's currency, or a reason: never an exception, which would
    fail the event and retry it for ever."""
    currency = context.currency
    rate = params.get("rate_bps") or (
        context.override_rate_bps if role == "parent" else context.direct_rate_bps
    )
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


class PercentCommission(RuleAction):
    type = "percent_commission"
    label = "Percent commission"
    params_schema = {
        "type": "object",
        "required": ["of", "reward_type"],
        "additionalProperties": False,
        "properties": {
            "beneficiary": {"$ref": "#/$defs/beneficiary"},
            "rate_bps": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": "Basis points (100 = 1%). Default: the program's direct rate, "
                "or its override rate for beneficiary parent.",
            },
            "of": {
                "type": "string",
                "description": "Numeric field (minor units) the rate applies to, e.g. event.amount",
            },
            "reward_type": {"$ref": "#/$defs/reward_type"},
            "cap": {"$ref": "#/$defs/minor_units"},
        },
    }
    fields = (
        BENEFICIARY,
        ParamField(
            "rate_bps",
            "Rate (basis points)",
            "basis_points",
            hint="Empty uses the program's rate.",
            empty="program rate",
            minimum=0,
        ),
        ParamField("of", "Of field", "numeric_field", empty="?"),
        ParamField("cap", "Cap", "money", hint="Optional upper limit per reward."),
        ParamField(
            "reward_type", "Reward type", "choice", options=("cash", "voucher", "credit", "points")
        ),
    )
    summary = ("{rate_bps} of {of}", "cap {cap}")
    integer_params = ("cap", "rate_bps")
    books_reward = True
    order = 20
    phrase_order = 10

    def check(self, params: Mapping[str, Any], *, path: str, context: CheckContext) -> list:
        errors = super().check(params, path=path, context=context)
        of = params["of"]
        try:
            kind = field_type(context.catalog, context.trigger, of)
        except KeyError:
            errors.append(
                {
                    "path": f"{path}.of",
                    "message": f"unknown field {of!r} for trigger {context.trigger!r}",
                }
            )
            return errors
        if kind is not None and kind not in NUMERIC_TYPES:
            errors.append(
                {"path": f"{path}.of", "message": f"{of!r} is a {kind} field, not a number"}
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
        amount, rate, reason = _commission(params, facts, role, context)
        return Planned(
            {
                "amount": amount,
                "currency": context.currency,
                "reward_type": params["reward_type"],
                "rate_bps": rate,
            },
            reason,
        )

    def run(self, step: ActionStep, outcome: ActionOutcome) -> None:
        reward_book(step, outcome)

    def explain(self, params: Mapping[str, Any], *, who: str, currency: str | None) -> str:
        rate = params.get("rate_bps")
        if rate:
            share = f"a {Decimal(rate).scaleb(-2).normalize():f}% commission"
        else:
            which = "override" if params.get("beneficiary") == "parent" else "direct"
            share = f"the program's {which} commission rate"
        of = words(params["of"].partition(".")[2] or params["of"])
        text = f"pay {who} {share} on the {of} as {params.get('reward_type', 'cash')}"
        if params.get("cap"):
            text += f", capped at {money_or_units(params['cap'], currency)}"
        return text

    def pays(self, params: Mapping[str, Any], *, who: str, currency: str) -> str:
        rate = params.get("rate_bps")
        share = f"{rate / 100:g}%" if rate else "the program's commission rate"
        line = f"{who}: {share} of {params.get('of', 'the amount')}"
        if params.get("cap"):
            line += f", at most {money(params['cap'], currency)} per event"
        return line

    def draft(self, parser: PhraseReader, *, trigger: str) -> list[dict[str, Any]] | None:
        """ "10% of the order to the referrer, capped at 2000", "5 percent commission on
        purchases up to ₹500", "2% of every purchase to the referrer's referrer"."""
        actions: list[dict[str, Any]] = []
        segments = parser.segments()
        for index, segment in enumerate(segments):
            rate = re.search(_RATE + _OF, segment.text)
            if segment.claimed or not rate:
                continue
            roles = parser.roles_for(segment)
            parser.claim_segment(segment, rate)
            rate_bps = int(Decimal(rate.group(1)) * 100)
            if not 0 < rate_bps <= 10000:
                parser.warnings.append(
                    f"'{rate.group(0).strip()}' is not a rate between 0 and 100%"
                )
                continue
            cap = None
            for other in [segment, *segments[index + 1 : index + 3]]:
                if other is not segment and (other.claimed or re.search(_RATE, other.text)):
                    break
                found = re.search(_CAP + parser.MONEY, other.text)
                if found:
                    cap = parser.amount(found.group(1), found.group(2), found.group(3), what="cap")
                    parser.consume(other.start + found.start(), other.start + found.end())
                    other.claimed = other.claimed or other is not segment
                    break
                floor = re.search(_FLOOR + parser.MONEY, other.text)
                if floor:
                    parser.warnings.append(
                        f"a minimum reward is not something a rule can say: '{floor.group(0)}' "
                        "left out"
                    )
                    parser.consume(other.start + floor.start(), other.start + floor.end())
                    other.claimed = other.claimed or other is not segment
            for role in roles:
                params: dict[str, Any] = {
                    "beneficiary": role,
                    "rate_bps": rate_bps,
                    "of": "event.amount",
                    "reward_type": "cash",
                }
                if cap:
                    params["cap"] = cap
                actions.append({"type": self.type, "params": params})
        if actions and trigger not in ("purchase", "subscription_started", "subscription_renewed"):
            parser.warnings.append(f"a commission on a {trigger} event needs event.amount")
        return actions or None

    def defaults(self, *, currency: str) -> dict[str, Any]:
        return {"beneficiary": "referrer", "rate_bps": 1000, "of": "", "reward_type": "cash"}


ACTION: Final = register(PercentCommission())
