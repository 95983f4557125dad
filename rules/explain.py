"""A rule in one plain-English sentence (SPEC §6, ``GET P/rules/{id}/explain``).

Example: "When a subscription starts, if the referrer is a paid user and the referred user is
on the premium plan, give the referrer a ₹500.00 voucher."

Money reads in major units with the currency: a condition on a money field of the catalog
(``event.amount`` and a program's declared money fields hold minor units) as well as caps,
limits and rewards ("the order amount is over ₹5,000.00"). ``leaf_sentence`` gives one
condition as a clause, also used to say why an event's rule did (not) match.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from config.platform.currencies import currency_exponent
from rules.action_registry import action_for
from rules.catalog import money_fields

CURRENCY_SYMBOLS: Final = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_ROLES: Final = {
    "referrer": "the referrer",
    "referred": "the referred user",
    "parent": "the referrer's referrer",
}
_WHEN: Final = {
    "signup": "When someone signs up",
    "referral_created": "When a referral is recorded",
    "subscription_started": "When a subscription starts",
    "subscription_renewed": "When a subscription renews",
    "purchase": "When a purchase is made",
    "refund": "When a purchase is refunded",
}
# What an event field is called in a sentence; money fields by trigger below.
_EVENT_SUBJECTS: Final = {
    "event.category": "the category",
    "event.product": "the product",
    "event.quantity": "the number of items",
    "event.plan": "the plan",
    "event.interval": "the billing interval",
    "event.source": "the signup source",
    "event.channel": "the referral channel",
    "event.referral_code": "the referral code",
    "event.currency": "the currency",
    "event.reason": "the refund reason",
    "event.type": "the event type",
    "event.occurred_at": "the event time",
    "event.order_id": "the order id",
    "event.subscription_id": "the subscription id",
    "event.original_event": "the refunded event",
    "event.referrer": "the referrer's code",
}
_AMOUNT_SUBJECTS: Final = {
    "purchase": "the order amount",
    "subscription_started": "the subscription amount",
    "subscription_renewed": "the renewal amount",
    "refund": "the refunded amount",
}
_COUNTRIES: Final = {
    "IN": "India",
    "US": "the US",
    "GB": "the UK",
    "DE": "Germany",
    "FR": "France",
    "CA": "Canada",
    "AU": "Australia",
    "BR": "Brazil",
    "JP": "Japan",
    "ES": "Spain",
    "IT": "Italy",
    "NP": "Nepal",
    "LK": "Sri Lanka",
    "BD": "Bangladesh",
    "SG": "Singapore",
    "AE": "the UAE",
    "MX": "Mexico",
    "NL": "the Netherlands",
    "IE": "Ireland",
}
_NOUNS: Final = frozenset(
    {"user", "member", "customer", "partner", "affiliate", "employee", "subscriber", "buyer"}
)
# "is over {v}" and its negation (what the clause says when it does not hold)
_COMPARE: Final = {
    "equals": ("is {v}", "is not {v}"),
    "not_equals": ("is not {v}", "is {v}"),
    "greater_than": ("is over {v}", "is not over {v}"),
    "greater_than_or_equal": ("is at least {v}", "is under {v}"),
    "less_than": ("is under {v}", "is not under {v}"),
    "less_than_or_equal": ("is at most {v}", "is over {v}"),
    "in": ("is {v}", "is not {v}"),
    "not_in": ("is not {v}", "is {v}"),
    "contains": ("contains {v}", "does not contain {v}"),
    "not_contains": ("does not contain {v}", "contains {v}"),
    "starts_with": ("starts with {v}", "does not start with {v}"),
    "ends_with": ("ends with {v}", "does not end with {v}"),
    "between": ("is between {v}", "is not between {v}"),
    "exists": ("is set", "is not set"),
    "not_exists": ("is not set", "is set"),
    "within_last_days": ("is within {v}", "is not within {v}"),
}
# "has more than 5 referrals": a count read as a quantity the subject has
_COUNT: Final = {
    "equals": ("exactly {v}", "other than {v}"),
    "not_equals": ("other than {v}", "exactly {v}"),
    "greater_than": ("more than {v}", "at most {v}"),
    "greater_than_or_equal": ("at least {v}", "fewer than {v}"),
    "less_than": ("fewer than {v}", "at least {v}"),
    "less_than_or_equal": ("at most {v}", "more than {v}"),
    "between": ("between {v}", "not between {v}"),
}
_NEGATIVE: Final = frozenset({"not_equals", "not_in", "not_contains", "not_exists"})


def format_money(amount: int | float | Decimal, currency: str) -> str:
    """Minor units as major units with the currency: 50000 INR -> "₹500.00"."""
    exponent = currency_exponent(currency)
    major = Decimal(str(amount)).scaleb(-exponent)
    text = f"{major:,.{exponent}f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


def money_or_units(amount: int, currency: str | None) -> str:
    """Money in the program's currency, or minor units when it is not known."""
    return format_money(amount, currency) if currency else f"{amount:,} minor units"


def words(name: str) -> str:
    return name.replace("_", " ").replace("-", " ")


def _join(parts: list[str], word: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _plain(value: Any, quote: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”" if quote else value
    if value is None:
        return "empty"
    if _is_number(value):
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return str(value)


def _percent_field(field: str) -> str | None:
    """ "percent" for a field holding a percentage, "bps" for basis points, else None."""
    name = field.rpartition(".")[2].lower()
    if name.endswith(("_bps", "basis_points")):
        return "bps"
    if name.endswith(("percent", "percentage", "_pct", "_rate_pct")):
        return "percent"
    return None


def _days(days: Any) -> str:
    """A time window in words: 1 -> "the last day", 14 -> "the last 2 weeks"."""
    if not _is_number(days):
        return f"the last {_plain(days)} days"
    if days == 1:
        return "the last day"
    if days == 7:
        return "the last week"
    if days and days % 7 == 0 and days < 30:
        return f"the last {days // 7} weeks"
    if days and days % 365 == 0:
        years = days // 365
        return "the last year" if years == 1 else f"the last {years} years"
    return f"the last {_plain(days)} days"


class _Values:
    """How one field's values read: money in the currency, percentages, countries, words."""

    def __init__(self, field: str, currency: str | None, money: Collection[str]) -> None:
        self.field = field
        self.currency = currency
        self.money = field in money
        self.percent = _percent_field(field)
        self.country = field.endswith(".country")

    def one(self, value: Any, quote: bool = False) -> str:
        if _is_number(value):
            if self.money:
                return (
                    format_money(value, self.currency)
                    if self.currency
                    else f"{_plain(value)} minor units"
                )
            if self.percent == "bps":
                return f"{Decimal(str(value)).scaleb(-2).normalize():f}%"
            if self.percent == "percent":
                return f"{_plain(value)}%"
        if self.country and isinstance(value, str):
            return _COUNTRIES.get(value.upper(), value)
        return _plain(value, quote)

    def many(self, values: Any, word: str = "or") -> str:
        if not isinstance(values, list):
            return self.one(values)
        return _join([self.one(v) for v in values], word)


def _subject(field: str, trigger: str | None, money: Collection[str]) -> str:
    role, _, attr = field.partition(".")
    if role in _ROLES:
        return f"{_ROLES[role]}'s {words(attr.replace('.', ' '))}"
    if field == "event.amount":
        return _AMOUNT_SUBJECTS.get(trigger or "purchase", "the amount")
    if field in _EVENT_SUBJECTS:
        return _EVENT_SUBJECTS[field]
    if role == "event":
        return f"the {words(attr.replace('.', ' '))}"
    return f"the {words(field.replace('.', ' '))}"


def _participant(
    role: str, attr: str, operator: str, value: Any, negated: bool, values: _Values
) -> str | None:
    """Clauses about a person: "the referrer is a paid user", "is a Gold partner", "is from
    the US", "is on the premium plan", "has more than 5 referrals", "joined within the last
    30 days"; None for the rest."""
    who = _ROLES[role]
    positive = operator in ("equals", "in", "exists", "contains", "within_last_days")
    if operator in ("equals", "not_equals") and isinstance(value, bool) and attr.startswith("is_"):
        quality = words(attr[3:])
        if quality.split()[-1] in _NOUNS:
            quality = f"{'an' if quality[0] in 'aeiou' else 'a'} {quality}"
        holds = (value is (operator == "equals")) is not negated
        return f"{who} is {'' if holds else 'not '}{quality}"
    holds = positive is not negated
    be = "is" if holds else "is not"
    if operator in ("equals", "not_equals", "in", "not_in") and isinstance(value, str | list):
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            return None
        if attr == "tier":
            tiers = _join(
                [words(v).title() for v in (value if isinstance(value, list) else [value])], "or"
            )
            article = "an" if tiers[:1] in "AEIOU" else "a"
            return f"{who} {be} {article} {tiers} partner"
        if attr == "country":
            return f"{who} {be} from {values.many(value)}"
        if attr == "subscription_plan":
            return f"{who} {be} on the {values.many(value)} plan"
    if attr == "tags" and operator in ("contains", "not_contains") and isinstance(value, str):
        return f"{who} {be} tagged “{value}”"
    if (
        attr == "referrals_count"
        and operator in _COUNT
        and _is_number(value) is not (operator == "between")
    ):
        text = values.many(value, "and") if operator == "between" else values.one(value)
        last = value[-1] if isinstance(value, list) and value else value
        noun = "referral" if last == 1 else "referrals"
        return f"{who} has {_COUNT[operator][1 if negated else 0].format(v=text)} {noun}"
    if attr == "id" and operator in ("exists", "not_exists"):
        there = (operator == "exists") is not negated
        return f"there is {'a' if there else 'no'} {who.removeprefix('the ')}"
    if attr == "joined_at" and operator == "within_last_days":
        return f"{who} {'joined' if not negated else 'did not join'} within {_days(value)}"
    return None


def _event(
    field: str, operator: str, value: Any, negated: bool, values: _Values, subject: str
) -> str | None:
    """Clauses about the event: "the purchase is in the books category", "the order has more
    than 3 items"; None for the rest."""
    positive = operator in ("equals", "in")
    be = "is" if positive is not negated else "is not"
    if (
        field == "event.category"
        and operator in ("equals", "not_equals", "in", "not_in")
        and isinstance(value, str | list)
    ):
        return f"the purchase {be} in the {values.many(value)} category"
    if (
        field == "event.plan"
        and operator in ("equals", "not_equals", "in", "not_in")
        and isinstance(value, str | list)
    ):
        return f"the subscription {be} on the {values.many(value)} plan"
    if field == "event.quantity" and operator in _COUNT:
        text = values.many(value, "and") if operator == "between" else values.one(value)
        last = value[-1] if isinstance(value, list) and value else value
        noun = "item" if last == 1 else "items"
        return f"the order has {_COUNT[operator][1 if negated else 0].format(v=text)} {noun}"
    return None


def leaf_sentence(
    leaf: dict[str, Any],
    *,
    currency: str | None,
    negated: bool = False,
    trigger: str | None = None,
    money: Collection[str] | None = None,
) -> str:
    """One condition as a clause: "the referrer is a paid user" ("... is not a paid user"
    when ``negated``), "the order amount is over ₹5,000.00" (a money field, in minor units,
    shown in major units of ``currency``), "the referred user is from the US".

    ``money`` lists the money fields (the catalog's, default the built-in ones: event.amount);
    ``trigger`` names the event's amount ("the order amount" on a purchase)."""
    field = str(leaf.get("field", ""))
    operator = str(leaf.get("operator", ""))
    value = leaf.get("value")
    money = money_fields(None) if money is None else money
    values = _Values(field, currency, money)
    role, _, attr = field.partition(".")
    if role in _ROLES and attr and "." not in attr:
        clause = _participant(role, attr, operator, value, negated, values)
        if clause:
            return clause
    subject = _subject(field, trigger, money)
    if role == "event":
        clause = _event(field, operator, value, negated, values, subject)
        if clause:
            return clause
    if operator not in _COMPARE:
        return f"{subject} {words(operator)} {values.many(value)}"
    phrase = _COMPARE[operator][1 if negated else 0]
    if operator in ("in", "not_in") and isinstance(value, list):
        text = values.many(value)
        if len(value) > 1 and not (values.money or values.country):
            text = f"one of {text}"
    elif operator == "between" and isinstance(value, list):
        text = values.many(value, "and")
    elif operator == "within_last_days":
        text = _days(value)
    else:
        quote = operator in ("contains", "not_contains", "starts_with", "ends_with")
        text = values.one(value, quote=quote)
    return f"{subject} {phrase.format(v=text)}"


class _Explainer:
    def __init__(self, trigger: str, currency: str | None, money: Collection[str]) -> None:
        self.trigger = trigger
        self.currency = currency
        self.money = money

    def leaf(self, node: dict[str, Any], negated: bool = False) -> str:
        return leaf_sentence(
            node,
            currency=self.currency,
            negated=negated,
            trigger=self.trigger,
            money=self.money,
        )

    def node(self, node: dict[str, Any], nested: bool = False, negated: bool = False) -> str:
        if not isinstance(node, dict):
            return "(a malformed condition)"
        if "conditions" not in node:
            return self.leaf(node, negated)
        operator, children = node.get("operator"), node.get("conditions") or []
        if operator == "NOT":
            if not children:
                return "never"
            return self.node(children[0], nested, not negated)
        if negated:  # "not (A and B)" reads "not both A and B"
            text = self.node(node, nested=True)
            return f"not {text.strip('()')}" if text.startswith("(") else f"not {text}"
        parts = [self.node(child, nested=True) for child in children]
        if len(parts) == 1:
            return parts[0]
        text = _join(parts, "and" if operator == "AND" else "or")
        if not nested:
            return text
        # parentheses keep "A and (B or C)" unambiguous in prose
        if operator == "AND":
            return f"(both {text})" if len(parts) == 2 else f"(all of {text})"
        return f"(either {text})" if len(parts) == 2 else f"(any of {text})"

    def unless(self, node: dict[str, Any]) -> str | None:
        """A condition that reads best after "unless": NOT groups and negative leaves."""
        if not isinstance(node, dict):
            return None
        if node.get("operator") == "NOT" and node.get("conditions"):
            child = node["conditions"][0]
            if not isinstance(child, dict):
                return None
            if "conditions" in child:
                return self.node(child, nested=True).strip("()").removeprefix("both ")
            return self.leaf(child)
        if "conditions" not in node and node.get("operator") in _NEGATIVE:
            return self.leaf(node, negated=True)
        return None

    def conditions(self, root: dict[str, Any]) -> tuple[str | None, str | None]:
        """("if" part, "unless" part) of the rule's conditions."""
        if "conditions" not in root:
            if "field" not in root:
                return None, None
            exception = self.unless(root)
            return (None, exception) if exception else (self.node(root), None)
        children = root.get("conditions") or []
        if not children:
            return None, None
        if root.get("operator") != "AND":
            return self.node(root), None
        plain: list[str] = []
        exceptions: list[str] = []
        for child in children:
            exception = self.unless(child)
            if exception:
                exceptions.append(exception)
            else:
                plain.append(self.node(child, nested=len(children) > 1))
        return (_join(_shared_subjects(plain), "and") or None), (_join(exceptions, "or") or None)

    def action(self, action: dict[str, Any]) -> str:
        if not isinstance(action, dict):
            return "(a malformed action)"
        params = action.get("params") or {}
        if not isinstance(params, dict):
            params = {}
        role = params.get("beneficiary") or "referrer"
        who = _ROLES.get(role, str(role))
        kind = action.get("type")
        if kind == "credit_reward" and _is_number(params.get("amount")):
            return f"give {who} {self.reward(params)}"
        if kind == "percent_commission" and isinstance(params.get("of"), str):
            return f"pay {who} {self.commission(params)}"
        if kind == "award_credits":
            return f"give {who} {self.credits(params)}"
        action_type = action_for(kind)
        if action_type is None:
            return f"run {kind}"
        try:
            return action_type.explain(params, who=who, currency=self.currency)
        except (
            AttributeError,
            KeyError,
            TypeError,
            ValueError,
            ArithmeticError,
        ):  # a malformed stored action
            return f"run {kind}"

    def reward(self, params: dict[str, Any]) -> str:
        currency = params.get("currency") or self.currency
        amount = (
            format_money(params["amount"], currency)
            if isinstance(currency, str) and currency
            else f"{_plain(params['amount'])} minor units"
        )
        kind = params.get("reward_type", "cash")
        if kind == "voucher":
            return f"a {amount} voucher"
        return f"{amount} in {words(str(kind))}"

    def commission(self, params: dict[str, Any]) -> str:
        rate = params.get("rate_bps")
        if _is_number(rate) and rate:
            share = f"{Decimal(str(rate)).scaleb(-2).normalize():f}%"
        else:
            which = "override" if params.get("beneficiary") == "parent" else "commission"
            share = f"the program's {which} rate"
        of = params["of"]
        what = _subject(of, self.trigger, self.money) if of.startswith("event.") else words(of)
        text = f"{share} of {what}"
        kind = params.get("reward_type", "cash")
        if kind != "cash":
            text += " as a voucher" if kind == "voucher" else f" as {words(str(kind))}"
        if _is_number(params.get("cap")) and params["cap"]:
            text += f", capped at {money_or_units(params['cap'], self.currency)}"
        return text

    def credits(self, params: dict[str, Any]) -> str:
        amount, operation = params.get("amount"), str(params.get("operation") or "")
        name = words(operation).lower()
        if operation == "CREDIT_ADD":
            return f"{amount:,} credits" if _is_number(amount) else "credits"
        if _is_number(amount):
            return f"{amount:,} credits ({name})"
        if not name:
            return "credits"
        return f"the {name}" if name.endswith(("credit", "credits")) else f"the {name} credits"

    def actions(self, actions: list[dict[str, Any]]) -> str:
        """Each action a clause; the same reward to the referrer and the referred user reads
        "give both the referrer and the referred user ..."."""
        parts: list[str] = []
        done: set[int] = set()
        for i, action in enumerate(actions):
            if i in done:
                continue
            params = _params(action)
            role = params.get("beneficiary") or "referrer"
            same = {k: v for k, v in params.items() if k != "beneficiary"}
            pair = next(
                (
                    j
                    for j in range(i + 1, len(actions))
                    if j not in done
                    and actions[j].get("type") == action.get("type")
                    and {role, _params(actions[j]).get("beneficiary") or "referrer"}
                    == {"referrer", "referred"}
                    and {k: v for k, v in _params(actions[j]).items() if k != "beneficiary"} == same
                ),
                None,
            )
            if pair is not None and action.get("type") in _MERGEABLE:
                done.add(pair)
                both = {**action, "params": {**params, "beneficiary": "referrer"}}
                parts.append(
                    self.action(both).replace(
                        "the referrer", "both the referrer and the referred user", 1
                    )
                )
            else:
                parts.append(self.action(action))
        if len(parts) > 1 and any("," in part for part in parts):
            return f"{', '.join(parts[:-1])}, and {parts[-1]}"
        return _join(parts, "and")


def _params(action: dict[str, Any]) -> dict[str, Any]:
    params = action.get("params")
    return params if isinstance(params, dict) else {}


def _shared_subjects(parts: list[str]) -> list[str]:
    """ "the referred user is on the pro plan and joined within the last week": a clause
    about the same person as the one before it drops the repeated subject."""
    out: list[str] = []
    previous = None
    for part in parts:
        subject = next((w for w in _ROLES.values() if part.startswith(w + " ")), None)
        if subject is not None and subject == previous:
            out.append(part.removeprefix(subject + " "))
        else:
            out.append(part)
        previous = subject
    return out


_MERGEABLE: Final = frozenset({"credit_reward", "percent_commission", "award_credits"})


def _when(trigger: str) -> str:
    if trigger in _WHEN:
        return _WHEN[trigger]
    article = "an" if trigger[:1] in "aeiou" else "a"
    return f"When {article} {words(trigger)} event arrives"


def _moment(value: Any, *, end: bool = False) -> str | None:
    """An RFC 3339 time as "1 January 2027" (with the time of day when it is not midnight).
    An end at midnight reads as the day before, the last day it covers: active_until
    2027-04-01T00:00 is "until 31 March 2027", as a marketer says it."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    midnight = (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)
    if end and midnight:
        moment -= timedelta(days=1)
    text = f"{moment.day} {moment:%B %Y}"
    if not midnight:
        text += f" at {moment:%H:%M}"
    return text


def schedule_phrase(definition: dict[str, Any]) -> str | None:
    """ "from 1 January 2027 until 31 March 2027" for a definition's active_from/until (the
    dates as written, in their own offset; "until" names the last day the rule runs)."""
    start = _moment(definition.get("active_from"))
    end = _moment(definition.get("active_until"), end=True)
    if start and end:
        return f"from {start} until {end}"
    if start:
        return f"from {start}"
    if end:
        return f"until {end}"
    return None


def _limits(limits: dict[str, Any], currency: str | None) -> str:
    parts = []
    per = limits.get("per_beneficiary") or {}
    per = per if isinstance(per, dict) else {}
    period = per.get("period", "all_time")
    window = "in total" if period == "all_time" else f"a {period}"
    if isinstance(per.get("max_rewards"), int) and per["max_rewards"]:
        count = per["max_rewards"]
        times = "once" if count == 1 else "twice" if count == 2 else f"{count:,} times"
        parts.append(f"each person is rewarded at most {times} {window}")
    if _is_number(per.get("max_amount")) and per["max_amount"]:
        parts.append(
            f"each person gets at most {money_or_units(per['max_amount'], currency)} {window}"
        )
    budget_limit = limits.get("budget")
    budget = budget_limit.get("max_amount") if isinstance(budget_limit, dict) else None
    if _is_number(budget) and budget:
        parts.append(f"the rule pays at most {money_or_units(budget, currency)} in total")
    return _join(parts, "and")


def explain(
    definition: dict[str, Any],
    *,
    currency: str | None = None,
    catalog: dict[str, Any] | None = None,
) -> str:
    """One plain-English sentence describing the rule. ``currency`` (the program's) lets
    conditions on money fields, caps and limits read as money; without it they are given in
    minor units. ``catalog`` (the program's) names its money fields; default the built-in."""
    trigger = str(definition.get("trigger", ""))
    explainer = _Explainer(trigger, currency, money_fields(catalog, trigger or None))
    when = _when(trigger)
    root = definition.get("conditions")
    condition, exception = explainer.conditions(root if isinstance(root, dict) else {})
    schedule = schedule_phrase(definition)
    # "From 1 January 2027 until 31 March 2027, when someone signs up, ..."
    clauses = [
        f"{schedule[0].upper()}{schedule[1:]}, {when[0].lower()}{when[1:]}" if schedule else when
    ]
    if condition:
        clauses.append(f"if {condition}")
    actions = definition.get("actions") or []
    actions = [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []
    body = explainer.actions(actions) if actions else "do nothing"
    if exception:
        # several rewards: the comma makes the exception hold for all of them
        body += f"{',' if len(actions) > 1 else ''} unless {exception}"
    clauses.append(body)
    sentence = ", ".join(clauses)
    if definition.get("stop_processing"):
        sentence += ", and no other rule runs"
    if isinstance(definition.get("limits"), dict):
        limits = _limits(definition["limits"], currency)
        if limits:
            sentence += f"; {limits}"
    return sentence + "."


__all__ = [
    "CURRENCY_SYMBOLS",
    "explain",
    "format_money",
    "leaf_sentence",
    "money_or_units",
    "schedule_phrase",
    "words",
]
