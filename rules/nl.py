"""Draft a rule from an English sentence (SPEC §6, ``POST P/rules/draft-from-text``).

With an API key the Groq model drafts it (rules.llm); otherwise, or when that fails, a
deterministic offline parser does. The parser knows a useful family of sentences:

* triggers: signs up / joins, refers (referral_created), subscribes, purchases / orders,
  refunds;
* conditions: "a paid (free) user refers", "subscribes to <plan>", "on the <plan> plan",
  "if the order amount is over/under/at least N [rupees]", "from India", "if the referrer has
  at least N referrals", "within N days of joining";
* actions: "reward/give/pay N rupees|dollars|euros|pounds [voucher|cash|credit]",
  "N points", "X percent commission on purchases [capped at N]", "Y percent to the parent",
  with "the referred user" / "both" / "the parent" as the beneficiary.

Whatever it does not understand becomes a warning; the draft is validated and any errors are
warnings too. A draft is never published.
"""

from __future__ import annotations

import re
from typing import Any, Final

from rules.action_registry import registered
from rules.phrases import MONEY_PATTERN, PhraseReader
from rules.validation import validate_definition

SPEC_PRIORITY: Final = 10
_COUNTRIES: Final = {
    "india": "IN",
    "the us": "US",
    "the usa": "US",
    "usa": "US",
    "the united states": "US",
    "the uk": "GB",
    "the united kingdom": "GB",
    "germany": "DE",
    "france": "FR",
    "canada": "CA",
    "australia": "AU",
    "brazil": "BR",
    "japan": "JP",
    "spain": "ES",
    "italy": "IT",
}
_COMPARATORS: Final = {
    "over": "greater_than",
    "above": "greater_than",
    "more than": "greater_than",
    "greater than": "greater_than",
    "at least": "greater_than_or_equal",
    "under": "less_than",
    "below": "less_than",
    "less than": "less_than",
    "at most": "less_than_or_equal",
}
_TRIGGERS: Final = (
    ("refund", r"\brefund(?:s|ed)?\b"),
    ("subscription_started", r"\bsubscri(?:bes?|bed|ptions?)\b"),
    ("purchase", r"\b(?:purchases?|purchased|buys?|bought|orders?)\b"),
    ("signup", r"\b(?:signs? up|signed up|signups?|registers?|joins?)\b"),
    ("referral_created", r"\b(?:refers?|referrals?)\b"),
)
_NAMES: Final = {
    "signup": "Signup referral reward",
    "purchase": "Purchase referral reward",
    "subscription_started": "Subscription referral reward",
    "referral_created": "Referral reward",
    "refund": "Refund rule",
}
# Words that carry no meaning of their own in these sentences; anything else left over after
# parsing is reported as not understood.
_FILLER: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "when",
        "whenever",
        "every",
        "each",
        "time",
        "someone",
        "somebody",
        "anyone",
        "user",
        "users",
        "person",
        "people",
        "who",
        "that",
        "which",
        "refers",
        "refer",
        "referred",
        "referring",
        "referral",
        "referrals",
        "friend",
        "friends",
        "new",
        "is",
        "are",
        "be",
        "if",
        "and",
        "then",
        "to",
        "of",
        "with",
        "for",
        "on",
        "in",
        "at",
        "by",
        "as",
        "their",
        "them",
        "they",
        "his",
        "her",
        "it",
        "its",
        "reward",
        "rewards",
        "rewarded",
        "give",
        "gives",
        "pay",
        "pays",
        "award",
        "awards",
        "grant",
        "credit",
        "them,",
        "s",
        "them.",
        "please",
        "rule",
    ]
)


class Parser(PhraseReader):
    """The offline parser: the reader's phrase tools plus the trigger, the conditions, the
    actions (each registered action reads its own phrases) and what was not understood."""

    def trigger(self) -> str:
        for name, pattern in _TRIGGERS:
            if self.find(pattern):
                return name
        self.warnings.append(
            "no trigger recognised (signs up, refers, subscribes, purchases, "
            "refunds); assumed referral_created"
        )
        return "referral_created"

    def conditions(self) -> list[dict[str, Any]]:
        leaves: list[dict[str, Any]] = []

        def leaf(field: str, operator: str, value: Any) -> None:
            leaves.append({"field": field, "operator": operator, "value": value})

        paid = (
            self.find(
                r"\b(?:(paid|paying)|(free|unpaid|non-paying)) "
                r"(?:user|member|customer|subscriber)s? (?:who )?refers?\b"
            )
            or self.find(
                r"\breferrer is (?:a |an )?(?:(paid|paying)|(free|unpaid|non-paying))"
                r"(?: user| member| customer)?\b"
            )
            or self.find(r"\b(?:(paid|paying)|(free|unpaid)) referrers?\b")
        )
        if paid:
            leaf("referrer.is_paid_user", "equals", paid.group(1) is not None)
        count = self.find(r"\breferrer has (more than|over|at least) (\d+) referrals?\b")
        if count:
            operator = "greater_than_or_equal" if count.group(1) == "at least" else "greater_than"
            leaf("referrer.referrals_count", operator, int(count.group(2)))
        plan = self.find(
            r"\bsubscribes? to (?:the |a |an )?([a-z][a-z0-9_-]*)(?: plan)?\b"
        ) or self.find(r"\bon (?:the |a )?([a-z][a-z0-9_-]*) plan\b")
        if plan and plan.group(1) not in ("any", "plan", "subscription"):
            leaf("referred.subscription_plan", "equals", plan.group(1))
        country = self.find(r"\bfrom (" + "|".join(map(re.escape, _COUNTRIES)) + r")\b")
        if country:
            leaf("referred.country", "equals", _COUNTRIES[country.group(1)])
        recent = self.find(r"\bwithin (\d+) days? of (?:joining|signing up|signup|sign-up)\b")
        if recent:
            leaf("referred.joined_at", "within_last_days", int(recent.group(1)))
        amount = self.find(
            r"\b(?:the )?(?:order |purchase |payment )?(?:amount|value|total) (?:is )?("
            + "|".join(_COMPARATORS)
            + r") "
            + MONEY_PATTERN
        )
        if amount:
            # a comparison needs no currency, only the scale: event.amount is in minor units
            parsed = self.money(amount.group(2), amount.group(3), amount.group(4), warn=False)
            if parsed:
                leaf("event.amount", _COMPARATORS[amount.group(1)], parsed[0])
                self.warnings.append(
                    f"event.amount is in minor units: {amount.group(3)} read as {parsed[0]}"
                )
        return leaves

    def actions(self, trigger: str) -> list[dict[str, Any]]:
        """The first registered action that recognises its phrases drafts the actions."""
        for action in sorted(registered(), key=lambda a: a.phrase_order):
            drafted = action.draft(self, trigger=trigger)
            if drafted is not None:
                return drafted
        self.warnings.append(
            "no reward recognised (e.g. 'reward 500 rupees voucher', "
            "'10 percent commission on purchases')"
        )
        return []

    def leftovers(self) -> list[str]:
        text = "".join(" " if used else ch for ch, used in zip(self.text, self.used, strict=True))
        words = re.findall(r"[a-z0-9_'%₹$€£.-]+", text)
        return [w for w in (word.strip(".,;:!?'") for word in words) if w and w not in _FILLER]


def parse_offline(text: str, *, catalog: dict[str, Any], currency: str = "INR") -> dict[str, Any]:
    """The deterministic offline parser: {"definition", "source": "offline", "warnings"}."""
    parser = Parser(text, currency)
    trigger = parser.trigger()
    leaves = parser.conditions()
    actions = parser.actions(trigger)
    plan = next(
        (leaf["value"] for leaf in leaves if leaf["field"] == "referred.subscription_plan"), None
    )
    if plan:
        name = f"{plan.capitalize()} referral reward"
    elif actions and actions[0]["type"] == "percent_commission":
        name = f"{trigger.replace('_', ' ').capitalize()} commission"
    else:
        name = _NAMES.get(trigger, "Referral reward")
    # conditions on the referrer first, then the referred user, then the event
    order = {"referrer": 0, "referred": 1, "parent": 2, "event": 3}
    leaves.sort(key=lambda leaf: order.get(leaf["field"].partition(".")[0], 4))
    definition = {
        "name": name,
        "trigger": trigger,
        "priority": SPEC_PRIORITY,
        "stop_processing": False,
        "conditions": {"operator": "AND", "conditions": leaves},
        "actions": actions,
    }
    warnings = parser.warnings
    ignored = parser.leftovers()
    if ignored:
        warnings.append("not understood: " + " ".join(ignored))
    warnings += [
        f"{e['path']}: {e['message']}" for e in validate_definition(definition, catalog=catalog)
    ]
    return {"definition": definition, "source": "offline", "warnings": warnings}


def draft_from_text(
    text: str,
    *,
    catalog: dict[str, Any],
    api_key: str = "",
    model: str = "",
    http_client: Any = None,
    currency: str = "INR",
) -> dict[str, Any]:
    """Draft a rule: Groq when ``api_key`` is set, the offline parser otherwise or when the
    model's answer is unusable (with a warning saying so). ``currency`` is the program's,
    assumed where the text names none."""
    if api_key:
        # Only with a key: rules.llm loads the groq SDK, a heavy optional dependency.
        from rules.llm import LLMError, draft_with_llm

        try:
            definition = draft_with_llm(
                text, catalog=catalog, api_key=api_key, model=model, http_client=http_client
            )
        except LLMError as exc:
            result = parse_offline(text, catalog=catalog, currency=currency)
            result["warnings"].insert(
                0, f"the language model failed ({exc}); drafted offline instead"
            )
            return result
        warnings = [
            f"{e['path']}: {e['message']}" for e in validate_definition(definition, catalog=catalog)
        ]
        return {"definition": definition, "source": "llm", "warnings": warnings}
    return parse_offline(text, catalog=catalog, currency=currency)
