"""A rule in one plain-English sentence (SPEC §6, ``GET P/rules/{id}/explain``).

Example: "When a subscription starts, if the referrer is a paid user and the referred user's
subscription plan is premium, give the referrer a ₹500.00 voucher."
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from config.platform.currencies import currency_exponent
from rules.action_registry import action_for
from rules.catalog import BUILTIN_TRIGGERS

CURRENCY_SYMBOLS: Final = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_ROLES: Final = {
    "referrer": "the referrer",
    "referred": "the referred user",
    "parent": "the referrer's referrer",
}
_NOUNS: Final = frozenset(
    {"user", "member", "customer", "partner", "affiliate", "employee", "subscriber", "buyer"}
)
_PHRASES: Final = {
    "equals": "is {v}",
    "not_equals": "is not {v}",
    "greater_than": "is over {v}",
    "greater_than_or_equal": "is at least {v}",
    "less_than": "is under {v}",
    "less_than_or_equal": "is at most {v}",
    "in": "is {v}",
    "not_in": "is not {v}",
    "contains": "contains {v}",
    "not_contains": "does not contain {v}",
    "starts_with": "starts with {v}",
    "ends_with": "ends with {v}",
    "between": "is between {v}",
    "exists": "is set",
    "not_exists": "is not set",
    "within_last_days": "is within the {v} before the event",
}
_NEGATIONS: Final = {
    "equals": "not_equals",
    "not_equals": "equals",
    "in": "not_in",
    "not_in": "in",
    "contains": "not_contains",
    "not_contains": "contains",
    "exists": "not_exists",
    "not_exists": "exists",
}


def format_money(amount: int, currency: str) -> str:
    """Minor units as major units with the currency: 50000 INR -> "₹500.00"."""
    exponent = currency_exponent(currency)
    major = Decimal(amount).scaleb(-exponent)
    text = f"{major:,.{exponent}f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


def words(name: str) -> str:
    return name.replace("_", " ").replace("-", " ")


def _join(parts: list[str], word: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def _value(value: Any, quote: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”" if quote else value
    if value is None:
        return "empty"
    return str(value)


def _leaf(node: dict[str, Any], negate: bool = False) -> str:
    field, operator, value = node["field"], node["operator"], node.get("value")
    if negate:
        if operator not in _NEGATIONS:
            return f"it is not the case that {_leaf(node)}"
        operator = _NEGATIONS[operator]
    role, _, attr = field.partition(".")
    # "referrer.is_paid_user equals true" reads best as "the referrer is a paid user"
    if (
        attr.startswith("is_")
        and "." not in attr
        and role in _ROLES
        and operator in ("equals", "not_equals")
        and isinstance(value, bool)
    ):
        quality = words(attr[3:])
        if quality.split()[-1] in _NOUNS:
            quality = f"{'an' if quality[0] in 'aeiou' else 'a'} {quality}"
        positive = value is (operator == "equals")
        return f"{_ROLES[role]} is {'' if positive else 'not '}{quality}"
    if role in _ROLES:
        subject = f"{_ROLES[role]}'s {words(attr.replace('.', ' '))}"
    elif role == "event":
        subject = f"the {words(attr.replace('.', ' '))}"
    else:
        subject = f"the {words(field.replace('.', ' '))}"
    if operator in ("in", "not_in") and isinstance(value, list):
        text = _join([_value(v) for v in value], "or")
        text = f"one of {text}" if len(value) > 1 else text
    elif operator == "between" and isinstance(value, list) and len(value) == 2:
        text = f"{_value(value[0])} and {_value(value[1])}"
    elif operator == "within_last_days":
        text = "last day" if value == 1 else f"last {_value(value)} days"
    else:
        text = _value(
            value, quote=operator in ("contains", "not_contains", "starts_with", "ends_with")
        )
    return f"{subject} {_PHRASES[operator].format(v=text)}"


def _conditions(node: dict[str, Any], nested: bool = False) -> str:
    if "conditions" not in node:
        return _leaf(node)
    operator, children = node["operator"], node["conditions"]
    if operator == "NOT":
        child = children[0]
        if "conditions" not in child:
            return _leaf(child, negate=True)
        return f"it is not the case that {_conditions(child, nested=True)}"
    parts = [_conditions(child, nested=True) for child in children]
    if len(parts) == 1:
        return parts[0]
    text = _join(parts, "and" if operator == "AND" else "or")
    if not nested:
        return text
    # parentheses keep "A and (B or C)" unambiguous in prose
    if operator == "AND":
        return f"(both {text})" if len(parts) == 2 else f"(all of {text})"
    return f"(either {text})" if len(parts) == 2 else f"(any of {text})"


def money_or_units(amount: int, currency: str | None) -> str:
    """Money in the program's currency, or minor units when it is not known."""
    return format_money(amount, currency) if currency else f"{amount:,} minor units"


def _action(action: dict[str, Any], currency: str | None) -> str:
    params = action.get("params") or {}
    role = params.get("beneficiary") or "referrer"
    action_type = action_for(action.get("type"))
    if action_type is None:
        return f"run {action.get('type')}"
    return action_type.explain(params, who=_ROLES.get(role, role), currency=currency)


def _limits(limits: dict[str, Any], currency: str | None) -> str:
    parts = []
    per = limits.get("per_beneficiary") or {}
    period = per.get("period", "all_time")
    window = "in total" if period == "all_time" else f"per {period}"
    if per.get("max_rewards"):
        count = per["max_rewards"]
        parts.append(f"at most {count} reward{'s' if count != 1 else ''} per beneficiary {window}")
    if per.get("max_amount"):
        parts.append(
            f"at most {money_or_units(per['max_amount'], currency)} per beneficiary {window}"
        )
    if (limits.get("budget") or {}).get("max_amount"):
        parts.append(
            f"a total budget of {money_or_units(limits['budget']['max_amount'], currency)}"
        )
    return _join(parts, "and")


def explain(definition: dict[str, Any], *, currency: str | None = None) -> str:
    """One plain-English sentence describing the rule. ``currency`` (the program's) lets
    commission caps and limits read as money; without it they are given in minor units."""
    trigger = definition.get("trigger", "")
    builtin = BUILTIN_TRIGGERS.get(trigger)
    if builtin:
        when = f"When {builtin['description']}"
    else:
        article = "an" if trigger[:1] in "aeiou" else "a"
        when = f"When {article} {words(trigger)} event arrives"
    conditions = definition.get("conditions") or {}
    clauses = [when]
    if conditions.get("conditions") or "field" in conditions:
        clauses.append(f"if {_conditions(conditions)}")
    actions = [_action(action, currency) for action in definition.get("actions") or ()]
    clauses.append(_join(actions, "and") if actions else "do nothing")
    sentence = ", ".join(clauses)
    if definition.get("limits"):
        sentence += f" ({_limits(definition['limits'], currency)})"
    if definition.get("stop_processing"):
        sentence += ", then skip lower-priority rules"
    return sentence + "."
