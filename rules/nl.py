"""Draft a rule from an English sentence (SPEC §6, ``POST P/rules/draft-from-text``).

With an API key the Groq model drafts it (rules.llm); otherwise, or when that fails, a
deterministic offline parser does. The parser knows a useful family of sentences:

* triggers: signs up / joins, refers (referral_created), subscribes, renews
  (subscription_renewed), purchases / orders, refunds;
* conditions: "a paid (free) user refers", "subscribes to <plan>", "on the <plan> plan",
  "if the order amount is over/under/at least N [rupees]" (in minor units of the program's
  currency; "5k", "2 lakh", "1 crore" too), "from India", "if the referrer has at least N
  referrals", "within N days of joining", "gold partners" / "partners in the gold tier"
  (referrer.tier);
* schedules: "from 1 January until 31 March [2027]" (active_from / active_until, UTC, the
  last day included);
* actions: "reward/give/pay N rupees|dollars|euros|pounds [voucher|cash|credit]",
  "N points", "X percent commission on purchases [capped at N]", "Y percent to the parent",
  with "the referred user" / "both" / "the parent" as the beneficiary.

Whatever it does not understand becomes a warning; the draft is validated and any errors are
warnings too. A draft is never published.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from rules.action_registry import registered
from rules.phrases import PhraseReader
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
    "nepal": "NP",
    "sri lanka": "LK",
    "bangladesh": "BD",
    "singapore": "SG",
    "the uae": "AE",
    "mexico": "MX",
    "the netherlands": "NL",
    "ireland": "IE",
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
    (
        "subscription_renewed",
        r"\b(?:(?:their |a |the )?subscriptions? (?:is |are |gets? )?renew(?:s|ed|als?)?|"
        r"renew(?:s|ed|ing)?(?: (?:their|a|the|his|her) subscriptions?)?|renewals?|"
        r"re-?subscribes?)\b",
    ),
    ("subscription_started", r"\b(?:subscri(?:bes?|bed|ptions?)|upgrades?|upgraded)\b"),
    ("purchase", r"\b(?:purchases?|purchased|buys?|bought|orders?)\b"),
    ("signup", r"\b(?:signs? up|signed up|signups?|registers?|joins?)\b"),
    ("referral_created", r"\b(?:refers?|referrals?)(?: (?:is|are) (?:created|made|recorded))?\b"),
)
_NAMES: Final = {
    "signup": "Signup referral reward",
    "purchase": "Purchase referral reward",
    "subscription_started": "Subscription referral reward",
    "subscription_renewed": "Renewal referral reward",
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
        "something",
        "anything",
        "flat",
        "bonus",
        "extra",
        "but",
        "get",
        "gets",
        "earn",
        "earns",
        "receive",
        "receives",
        "also",
        "only",
        "all",
    ]
)


_CMP: Final = (
    r"(more than|over|above|greater than|exceeding|at least|no less than|not less than|"
    r"under|below|less than|fewer than|at most|no more than|up to)"
)
_CMP_OPS: Final = {
    "more than": "greater_than",
    "over": "greater_than",
    "above": "greater_than",
    "greater than": "greater_than",
    "exceeding": "greater_than",
    "at least": "greater_than_or_equal",
    "no less than": "greater_than_or_equal",
    "not less than": "greater_than_or_equal",
    "under": "less_than",
    "below": "less_than",
    "less than": "less_than",
    "fewer than": "less_than",
    "at most": "less_than_or_equal",
    "no more than": "less_than_or_equal",
    "up to": "less_than_or_equal",
}
_INVERSE: Final = {
    "equals": "not_equals",
    "not_equals": "equals",
    "in": "not_in",
    "not_in": "in",
    "greater_than": "less_than_or_equal",
    "less_than_or_equal": "greater_than",
    "greater_than_or_equal": "less_than",
    "less_than": "greater_than_or_equal",
    "contains": "not_contains",
    "not_contains": "contains",
    "exists": "not_exists",
    "not_exists": "exists",
}
# What an amount condition speaks of: "orders over 5000", "the order amount is at least ₹999"
_AMOUNT_SUBJECT: Final = (
    r"\b(?:orders?|purchases?|amount|value|total|payments?|sales?|spends?|spent|spending|worth|"
    r"baskets?|carts?|buys?|buying|bought|subscriptions?|costs?|costing)"
    r"(?: (?:amount|value|total|is|are|was|of|worth|something|anything|for|that|costs?|"
    r"costing|which))*"
)
_NEGATION: Final = (
    r"\b(?:unless|except(?: for| when| if| where)?|excluding|but not|other than|not when|"
    r"not for|not if|(?:do not|don't|never|does not|doesn't) (?:pay|reward|give|apply|count)"
    r"(?: anything| them| it)?(?: if| when| for)?|no (?:reward|payout|commission)s? (?:if|when|for))\b"
)
_NEGATION_WORDS: Final = frozenset(
    ["not", "no", "don't", "never", "unless", "except", "excluding", "without"]
)
_NOT_A_COUNT: Final = (
    r"(?!\d|[.,]\d)(?!\s*(?:items?|units?|products?|pieces?|referrals?|days?|weeks?|months?|"
    r"%|percent|points?)\b)"
)
_WITHIN_UNITS: Final = {"day": 1, "week": 7, "month": 30}
_SUBJECT_ROLE: Final = (
    r"(?:(?:the |a |an |their )?(referrer's referrer|parent|referrers?|referring user|"
    r"friends?|referred (?:user|friend)s?|new users?|someone|users?|they|customers?|people)"
    r"(?: who| that)?(?: (?:is|are|isn't|aren't|is not|are not|comes?|come|came|live|lives))?"
    r"(?: not)? )?"
)
_STOP: Final = (
    r"\b(?:and |then )*(?:stop (?:all |any |the )?(?:other |further |lower(?:-priority)? )?"
    r"(?:rules|processing)(?: (?:other |further )?rules)?|"
    r"(?:do not|don't) (?:run|apply) (?:any )?(?:other|further) rules|"
    r"no (?:other|further) rules (?:apply|run)|and stop(?= *(?:\.|$)))\b"
)


# Words before "partners" that name no tier ("paid partners" is referrer.is_paid_user).
_NOT_TIERS: Final = frozenset(
    [
        "paid",
        "paying",
        "free",
        "unpaid",
        "non-paying",
        "new",
        "all",
        "our",
        "the",
        "every",
        "each",
        "other",
        "referred",
        "referring",
        "any",
        "some",
        "these",
        "those",
        "a",
        "an",
        "their",
        "to",
        "for",
        "of",
        "and",
        "or",
        "but",
        "with",
        "from",
        "in",
        "on",
        "at",
        "by",
        "when",
        "if",
        "unless",
        "except",
        "not",
        "no",
        "give",
        "pay",
        "reward",
        "both",
        "partner",
        "partners",
        "affiliate",
        "affiliates",
        "tier",
        "level",
    ]
)
_TIER_WORD: Final = r"[a-z0-9][a-z0-9_-]*"
_COMMON_TIERS: Final = frozenset(
    [
        "bronze",
        "silver",
        "gold",
        "platinum",
        "diamond",
        "titanium",
        "emerald",
        "ruby",
        "sapphire",
        "elite",
        "vip",
    ]
)
_TIER_LIST: Final = rf"({_TIER_WORD}(?:(?:, or |, | or | and |/){_TIER_WORD})*)"
_TIER_PATTERNS: Final = (
    # (pattern, explicit): an explicit pattern says "tier"/"level", so any word is a tier key;
    # otherwise the word must be one of the program's tiers (or a common tier name when the
    # program's tiers are not known): "verified partners" is no tier.
    # "partners in the gold tier", "referrers on the gold level"
    (
        rf"\b(?:(?:the )?(?:partners?|affiliates?|referrers?|members?)(?: who are| that are)? )?"
        rf"(?:in|on|at) the {_TIER_LIST} (?:tier|level)s?\b",
        True,
    ),
    # "gold-tier partners", "gold tier referrers", "gold or platinum tier"
    (rf"\b{_TIER_LIST}[- ]tier(?: (?:partners?|affiliates?|referrers?|members?))?\b", True),
    # "gold partners", "silver or gold affiliates"
    (rf"\b{_TIER_LIST} (?:partners?|affiliates?)\b", False),
    # "if the referrer is a gold partner", "the referrer is gold"
    (
        rf"\breferrer is (?:a |an )?{_TIER_LIST}(?: (?:partner|affiliate|member)\b|(?=[ ,.;]|$))",
        False,
    ),
)
_TIER_SEPARATORS: Final = r", or |, | or | and |/"
_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH: Final = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
# "1 january [2027]", "1st of january", "january 1[st][, 2027]"
_DAY: Final = (
    r"(?:(\d{1,2})(?:st|nd|rd|th)?(?: of)? "
    + _MONTH
    + r"|"
    + _MONTH
    + r" (\d{1,2})(?:st|nd|rd|th)?)"
    r"(?:,? (\d{4}))?"
)
_DAY_TEXT: Final = re.sub(r"\((?!\?)", "(?:", _DAY)
_SCHEDULE: Final = (
    r"\b(?:(?:valid |running |runs |active |only )?(?:(?:from|starting(?: on| from)?|"
    r"beginning(?: on)?) " + _DAY_TEXT + r"(?:,? (?:until|till|til|to|through|thru|up to|"
    r"(?:and )?ending(?: on)?) "
    + _DAY_TEXT
    + r")?|(?:until|till|through|up to|ending on) "
    + _DAY_TEXT
    + r")|between "
    + _DAY_TEXT
    + r" and "
    + _DAY_TEXT
    + r")"
)
_UNTIL_FIRST: Final = re.compile(
    r"^(?:(?:valid|running|runs|active|only) )?(?:until|till|through|up to|ending)"
)


def _day(match: re.Match[str]) -> tuple[int, int, int | None]:
    """(day, month, year or None) of a _DAY match."""
    day = int(match.group(1) or match.group(4))
    month = _MONTHS[match.group(2) or match.group(3)]
    return day, month, int(match.group(5)) if match.group(5) else None


def _invert(leaf: dict[str, Any]) -> dict[str, Any]:
    """The leaf's negation: "not a free user" is a paid one (equals true), not "not_equals
    false", which also holds when the field is missing."""
    if leaf["operator"] in ("equals", "not_equals") and isinstance(leaf["value"], bool):
        value = leaf["value"] if leaf["operator"] == "not_equals" else not leaf["value"]
        return {**leaf, "operator": "equals", "value": value}
    return {**leaf, "operator": _INVERSE[leaf["operator"]]}


def _role_word(word: str | None) -> str:
    word = word or ""
    if word in ("referrer's referrer", "parent"):
        return "parent"
    if word.startswith("referrer") or word == "referring user":
        return "referrer"
    return "referred"


class Parser(PhraseReader):
    """The offline parser: the reader's phrase tools plus the trigger, the conditions, the
    actions (each registered action reads its own phrases) and what was not understood."""

    def __init__(self, text: str, currency: str, tiers: dict[str, str] | None = None) -> None:
        super().__init__(text, currency)
        # the program's tiers, key -> name; None when not known (common tier names are read)
        self.tiers = tiers
        # negated clauses: "unless ...", "except ..." up to the next comma or "and stop"
        self.negations: list[tuple[int, int, re.Match[str]]] = []
        for match in re.finditer(_NEGATION, self.text):
            rest = self.text[match.end() :]
            boundary = re.search(r",(?!\d)|;|\.(?!\d)|\band (?:then )?stop\b|\bthen\b", rest)
            end = match.end() + (boundary.start() if boundary else len(rest))
            self.negations.append((match.start(), end, match))
        self.found: list[tuple[int, dict[str, Any], int | None]] = []

    def trigger(self) -> str:
        for name, pattern in _TRIGGERS:
            if self.find(pattern):
                if name == "subscription_renewed":  # "... 5% of the renewal": read too
                    for match in re.finditer(pattern, self.text):
                        self.consume(match.start(), match.end())
                return name
        if re.search(r"\d\s*(?:%|percent|per cent)", self.text):
            self.warnings.append(
                "no trigger recognised; a percentage is of an order's amount: assumed purchase"
            )
            return "purchase"
        self.warnings.append(
            "no trigger recognised (signs up, refers, subscribes, purchases, "
            "refunds); assumed referral_created"
        )
        return "referral_created"

    def _negation_of(self, match: re.Match[str]) -> int | None:
        for index, (start, end, _) in enumerate(self.negations):
            if start <= match.start() < end:
                return index
        return None

    def leaf(
        self, match: re.Match[str], field: str, operator: str, value: Any, *, negated: bool = False
    ) -> None:
        """A condition read from ``match``: inverted when it stands in a negated clause."""
        self.consume(match.start(), match.end())
        negation = self._negation_of(match)
        before = self.text[max(0, match.start() - 12) : match.start()]
        if negation is None and re.search(r"\b(?:not|n't)\s*$", before):
            negation = -1  # "not from the UK": this condition alone
            local = re.search(r"\b(?:not|n't)\s*$", before)
            assert local is not None
            self.consume(match.start() - len(before) + local.start(), match.start())
        if negation is None and negated:
            negation = -1
        self.found.append(
            (match.start(), {"field": field, "operator": operator, "value": value}, negation)
        )

    def finditer(self, pattern: str) -> list[re.Match[str]]:
        return list(re.finditer(pattern, self.text))

    def conditions(self, trigger: str) -> list[dict[str, Any]]:
        paid = (
            self.find(
                r"\b(?:(paid|paying)|(free|unpaid|non-paying)) "
                r"(?:user|member|customer|subscriber)s? (?:who )?refers?\b",
                consume=False,
            )
            or self.find(
                r"\breferrer is (?:a |an )?(?:(paid|paying)|(free|unpaid|non-paying))"
                r"(?: user| member| customer)?\b",
                consume=False,
            )
            or self.find(r"\b(?:(paid|paying)|(free|unpaid)) referrers?\b", consume=False)
        )
        if paid:
            self.leaf(paid, "referrer.is_paid_user", "equals", paid.group(1) is not None)
        self._tiers()
        # counts: "more than 5 referrals", "between 5 and 20 referrals"
        for m in self.finditer(
            r"\b(?:(?:the |a |their )?referrers? (?:who |that )?)?"
            r"(?:(?:has|have|had|with|made) )?(?:" + _CMP + r" (\d+)|between (\d+) and (\d+)|"
            r"(\d+) or more) (?:successful |paid |active |confirmed )?referrals?\b"
        ):
            if m.group(2):
                self.leaf(m, "referrer.referrals_count", _CMP_OPS[m.group(1)], int(m.group(2)))
            elif m.group(3):
                self.leaf(
                    m, "referrer.referrals_count", "between", [int(m.group(3)), int(m.group(4))]
                )
            else:
                self.leaf(m, "referrer.referrals_count", "greater_than_or_equal", int(m.group(5)))
        # quantities: "more than 3 items", "3 or more items"
        for m in self.finditer(
            r"\b(?:" + _CMP + r" (\d+)|(\d+) or more) (?:items?|units?|products?|pieces?)\b"
        ):
            if m.group(2):
                self.leaf(m, "event.quantity", _CMP_OPS[m.group(1)], int(m.group(2)))
            else:
                self.leaf(m, "event.quantity", "greater_than_or_equal", int(m.group(3)))
        # plans
        for m in self.finditer(
            r"\b(?:subscribes? to|subscribed to|subscription to|on|to|for|buys?|chooses?|picks?|"
            r"upgrades? to) (?:the |a |an )?([a-z][a-z0-9_-]*) plan\b"
        ) or self.finditer(r"\bsubscribes? to (?:the |a |an )?([a-z][a-z0-9_-]*)\b"):
            if m.group(1) not in ("any", "plan", "subscription", "paid", "free"):
                self.leaf(m, "referred.subscription_plan", "equals", m.group(1))
        # categories
        for m in self.finditer(
            r"\b(?:in|from|of|for) (?:the )?([a-z][a-z0-9&'-]*(?: [a-z][a-z0-9&'-]*){0,2}?) "
            r"categor(?:y|ies)\b"
        ) or self.finditer(r"\bcategory (?:is |of )?([a-z][a-z0-9_-]*)\b"):
            self.leaf(m, "event.category", "equals", m.group(1).strip())
        # countries: "from India", "not from the UK", "from India or Nepal"
        country = "|".join(map(re.escape, sorted(_COUNTRIES, key=len, reverse=True)))
        for m in self.finditer(
            r"\b"
            + _SUBJECT_ROLE
            + r"(?:from|in|based in|living in) ((?:"
            + country
            + r")(?:(?:, or |, and |, | or | and )(?:"
            + country
            + r"))*)\b"
        ):
            field = f"{_role_word(m.group(1))}.country"
            negated = re.search(r"\b(?:not|isn't|aren't)\b", m.group(0)) is not None
            codes = list(dict.fromkeys(_COUNTRIES[c] for c in re.findall(country, m.group(2))))
            if len(codes) == 1:
                self.leaf(m, field, "equals", codes[0], negated=negated)
            else:
                self.leaf(m, field, "in", codes, negated=negated)
        # time windows
        for m in self.finditer(
            r"\b(?:within|in) (?:the first |their first |the |their )?(\d+) (day|week|month)s? "
            r"(?:of|after|since|from) (?:joining|signing up|signup|sign-up|sign up|registering|"
            r"registration|creating an account|their signup|they sign up|they signed up|"
            r"they joined)\b"
        ):
            days = int(m.group(1)) * _WITHIN_UNITS[m.group(2)]
            if m.group(2) == "month":
                self.warnings.append(f"'{m.group(0)}' read as {days} days")
            self.leaf(m, "referred.joined_at", "within_last_days", days)
        # amounts of the event: "orders over 5000 INR", "between 1000 and 10000 rupees"
        # an amount, not a count: "more than 3 items" is event.quantity
        money = self.MONEY + _NOT_A_COUNT
        for m in self.finditer(_AMOUNT_SUBJECT + r" between " + money + r" and " + money):
            low = self.amount(m.group(1), m.group(2), m.group(3) or m.group(6), what="amount")
            high = self.amount(m.group(4), m.group(5), m.group(6), what="amount")
            if low is not None and high is not None:
                self.leaf(m, "event.amount", "between", [low, high])
        for m in self.finditer(
            r"(?:" + _AMOUNT_SUBJECT + r" (?:is |are |of )?" + _CMP + r"|\b(minimum|min\.?) "
            r"(?:order|purchase|spend|basket|cart)(?: value| amount| total)?(?: of| is)?) " + money
        ):
            operator = "greater_than_or_equal" if m.group(2) else _CMP_OPS[m.group(1)]
            value = self.amount(m.group(3), m.group(4), m.group(5), what="amount")
            if value is not None and not self._money_cap(m):
                self.leaf(m, "event.amount", operator, value)
        return self._group(trigger)

    def _tiers(self) -> None:
        """ "Gold partners get 15%", "partners in the gold tier", "silver or gold affiliates":
        referrer.tier equals (or in) the tier keys. A program's tier is found by its key or
        its name ("Gold" -> "gold"); a word the program has no tier for is left as not
        understood, or warned about when the sentence says "tier"."""
        for pattern, explicit in _TIER_PATTERNS:
            for m in self.finditer(pattern):
                if any(self.used[m.start() : m.end()]):
                    continue
                words = re.split(_TIER_SEPARATORS, m.group(1))
                if any(word in _NOT_TIERS for word in words):
                    continue
                keys = [self._tier_key(word) for word in words]
                if None in keys and not explicit:
                    continue
                found = [key or word for key, word in zip(keys, words, strict=True)]
                unknown = [word for key, word in zip(keys, words, strict=True) if key is None]
                if unknown and self.tiers is not None:
                    self.warnings.append(
                        f"no tier {', '.join(map(repr, unknown))} in this program (tiers: "
                        f"{', '.join(sorted(self.tiers)) or 'none'})"
                    )
                values = list(dict.fromkeys(found))
                if len(values) == 1:
                    self.leaf(m, "referrer.tier", "equals", values[0])
                else:
                    self.leaf(m, "referrer.tier", "in", values)

    def _tier_key(self, word: str) -> str | None:
        if self.tiers is None:
            return word if word in _COMMON_TIERS else None
        if word in self.tiers:
            return word
        return next((key for key, name in self.tiers.items() if name.lower() == word), None)

    def schedule(self, today: date) -> dict[str, str]:
        """ "from 1 January until 31 March": active_from at the start of the first day,
        active_until at the end of the last (UTC). A missing year is the next such day from
        ``today`` (the end after the start), and the warning says which year was read."""
        found = self.find(_SCHEDULE)
        if found is None:
            return {}
        days = [_day(m) for m in re.finditer(_DAY, found.group(0))]
        until_only = _UNTIL_FIRST.match(found.group(0)) is not None
        start = None if until_only else days[0]
        end = days[0] if until_only else (days[1] if len(days) > 1 else None)
        out: dict[str, str] = {}
        first: date | None = None
        if start is not None:
            first = self._date(start, after=today - timedelta(days=1))
            if first is None:
                return {}
            out["active_from"] = datetime(
                first.year, first.month, first.day, tzinfo=UTC
            ).isoformat()
        if end is not None:
            last = self._date(end, after=first or today - timedelta(days=1))
            if last is None:
                return {}
            if last == date.max:
                self.warnings.append("the schedule's last day is out of range: no end drafted")
                return out
            following = last + timedelta(days=1)
            out["active_until"] = datetime(
                following.year, following.month, following.day, tzinfo=UTC
            ).isoformat()
        return out

    def _date(self, parts: tuple[int, int, int | None], *, after: date) -> date | None:
        day, month, year = parts
        try:
            if year is not None:
                return date(year, month, day)
            for candidate in (after.year, after.year + 1, after.year + 2):
                try:
                    value = date(candidate, month, day)
                except ValueError:
                    continue  # 29 February
                if value > after:
                    self.warnings.append(
                        f"no year given for {value.day} {value:%B}: read as {value.year}"
                    )
                    return value
        except ValueError:
            pass
        name = date(2000, month, 1).strftime("%B")
        self.warnings.append(f"'{day} {name}' is not a date: no schedule drafted for it")
        return None

    def _money_cap(self, match: re.Match[str]) -> bool:
        """ "10% of the order, up to 500": a cap of the action, not a condition."""
        return match.group(1) == "up to" and bool(
            re.search(r"(?:%|percent|per cent)[^,]*$", self.text[: match.start()])
        )

    def _group(self, trigger: str) -> list[dict[str, Any]]:
        order = {"referrer": 0, "referred": 1, "parent": 2, "event": 3}
        plain = [
            leaf for _, leaf, negation in sorted(self.found, key=lambda f: f[0]) if negation is None
        ]
        plain.sort(key=lambda leaf: order.get(leaf["field"].partition(".")[0], 4))
        grouped: list[dict[str, Any]] = []
        by_negation: dict[int, list[dict[str, Any]]] = {}
        for _, leaf, negation in sorted(self.found, key=lambda f: f[0]):
            if negation is not None:
                by_negation.setdefault(negation, []).append(leaf)
        for negation, leaves in by_negation.items():
            if negation >= 0:
                _start, _, word = self.negations[negation]
                self.consume(word.start(), word.end())
            invertible = [leaf for leaf in leaves if leaf["operator"] in _INVERSE]
            if negation == -1 or (len(leaves) == 1 and invertible):
                for leaf in leaves:
                    if leaf["operator"] in _INVERSE:
                        grouped.append(_invert(leaf))
                    else:
                        grouped.append({"operator": "NOT", "conditions": [leaf]})
            elif len(leaves) == 1:
                grouped.append({"operator": "NOT", "conditions": leaves})
            else:
                grouped.append(
                    {"operator": "NOT", "conditions": [{"operator": "AND", "conditions": leaves}]}
                )
        return plain + grouped

    def stop_processing(self) -> bool:
        return self.find(_STOP) is not None

    def limits(self) -> dict[str, Any]:
        """ "for the first 50 referrals only", "at most 10 rewards per referrer a month",
        "with a budget of 100000 rupees"."""
        limits: dict[str, Any] = {}
        per = self.find(
            r"\b(?:(?:only )?for (?:the|their) first (\d+) (?:referrals?|signups?|friends?|"
            r"purchases?|orders?|subscriptions?)(?: only)?|(?:up to|at most|max(?:imum)?(?: of)?|"
            r"no more than) (\d+) (?:rewards?|times|payouts?)(?: per (?:referrer|person|"
            r"partner|user))?(?: (?:a|per|each) (day|week|month))?)"
        )
        if per:
            count = int(per.group(1) or per.group(2))
            limits["per_beneficiary"] = {"max_rewards": count}
            limits["per_beneficiary"]["period"] = per.group(3) or "all_time"
        budget = self.find(
            r"\b(?:with |within )?(?:a |the )?(?:total )?budget (?:of |is )?" + self.MONEY
        )
        if budget:
            amount = self.amount(budget.group(1), budget.group(2), budget.group(3), what="budget")
            if amount:
                limits["budget"] = {"max_amount": amount}
        return limits

    def actions(self, trigger: str) -> list[dict[str, Any]]:
        """Every registered action drafts from the clauses that speak of it."""
        drafted: list[dict[str, Any]] = []
        for action in sorted(registered(), key=lambda a: a.phrase_order):
            drafted += action.draft(self, trigger=trigger) or []
        if not drafted:
            self.warnings.append(
                "no reward recognised (e.g. 'reward 500 rupees voucher', "
                "'10 percent commission on purchases')"
            )
        return drafted

    def leftovers(self) -> list[str]:
        words = re.findall(r"[a-z0-9_'%₹$€£¥.-]+", self.free_text())
        out = []
        for word in words:
            word = word.strip(".,;:!?'")
            if word.endswith("'s"):
                word = word[:-2]
            if word and word not in _FILLER:
                out.append(word)
        return out


def parse_offline(
    text: str,
    *,
    catalog: dict[str, Any],
    currency: str = "INR",
    today: date | None = None,
    tiers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The deterministic offline parser: {"definition", "source": "offline", "warnings"}.
    ``today`` (UTC's, by default) places a schedule given without a year; ``tiers`` (the
    program's, key -> name) are the words "<tier> partners" may name (default: common tier
    names such as gold)."""
    parser = Parser(text, currency, tiers)
    schedule = parser.schedule(today or datetime.now(UTC).date())
    trigger = parser.trigger()
    stop = parser.stop_processing()
    limits = parser.limits()
    leaves = parser.conditions(trigger)
    actions = parser.actions(trigger)
    plan = next(
        (
            leaf["value"]
            for leaf in leaves
            if leaf.get("field") == "referred.subscription_plan" and leaf["operator"] == "equals"
        ),
        None,
    )
    if plan:
        name = f"{plan.capitalize()} referral reward"
    elif actions and actions[0]["type"] == "percent_commission":
        name = f"{trigger.replace('_', ' ').capitalize()} commission"
    else:
        name = _NAMES.get(trigger, "Referral reward")
    definition = {
        "name": name,
        "trigger": trigger,
        "priority": SPEC_PRIORITY,
        "stop_processing": stop,
        "conditions": {"operator": "AND", "conditions": leaves},
        "actions": actions,
    }
    if limits:
        definition["limits"] = limits
    definition.update(schedule)
    warnings = parser.warnings
    ignored = parser.leftovers()
    if ignored:
        warnings.append("not understood: " + " ".join(ignored))
        negations = [w for w in ignored if w in _NEGATION_WORDS]
        if negations:
            warnings.append(
                f"'{' '.join(negations)}' was not tied to a condition: the draft has no "
                "exception for it; check the conditions"
            )
    warnings += [
        f"{e['path']}: {e['message']}"
        for e in validate_definition(definition, catalog=catalog, currency=currency)
    ]
    return {"definition": definition, "source": "offline", "warnings": warnings}


def _meaning(definition: dict[str, Any]) -> dict[str, Any]:
    def node(item: dict[str, Any]) -> Any:
        if "conditions" in item:
            return (item["operator"], sorted(repr(node(c)) for c in item["conditions"]))
        return (item["field"], item["operator"], repr(item.get("value")))

    return {
        "trigger": definition.get("trigger"),
        "conditions": node(definition["conditions"]),
        "actions": sorted(
            repr(sorted((a["type"], *a["params"].items()), key=repr)) for a in definition["actions"]
        ),
        "stop_processing": bool(definition.get("stop_processing")),
        "schedule": tuple(_instant(definition.get(key)) for key in ("active_from", "active_until")),
    }


def _instant(value: Any) -> Any:
    """An RFC 3339 time as an instant, so "Z" and "+00:00" compare equal."""
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return value


def _second_opinion(
    text: str,
    definition: dict[str, Any],
    *,
    catalog: dict[str, Any],
    currency: str,
    tiers: dict[str, str] | None = None,
) -> list[str]:
    """Where the offline parser understands the whole sentence and reads it otherwise than
    the model did, a warning naming the parts that differ (a model may turn "unless" around)."""
    offline = parse_offline(text, catalog=catalog, currency=currency, tiers=tiers)
    reminders = ("no reward type given", "no currency given")
    if any(not w.startswith(reminders) for w in offline["warnings"]):
        return []
    mine, theirs = _meaning(offline["definition"]), _meaning(definition)
    differ = [part for part in mine if mine[part] != theirs[part]]
    if not differ:
        return []
    return [
        "the model's draft differs from the offline reading of the sentence in: "
        + ", ".join(differ)
        + "; check them"
    ]


def draft_from_text(
    text: str,
    *,
    catalog: dict[str, Any],
    api_key: str = "",
    model: str = "",
    http_client: Any = None,
    currency: str = "INR",
    base_url: str | None = None,
    tiers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Draft a rule: Groq when ``api_key`` is set, the offline parser otherwise or when the
    model's answer is unusable (with a warning saying so). ``currency`` is the program's,
    assumed where the text names none; both drafts are validated against it. ``tiers`` (the
    program's, key -> name) let "<tier> partners" name them."""
    if api_key:
        # Only with a key: rules.llm loads the groq SDK, a heavy optional dependency.
        from rules.llm import LLMError, draft_with_llm

        try:
            definition = draft_with_llm(
                text,
                catalog=catalog,
                api_key=api_key,
                model=model,
                http_client=http_client,
                base_url=base_url,
                currency=currency,
                tiers=tiers,
            )
        except LLMError as exc:
            result = parse_offline(text, catalog=catalog, currency=currency, tiers=tiers)
            result["warnings"].insert(
                0, f"the language model failed ({exc}); drafted offline instead"
            )
            return result
        warnings = [
            f"{e['path']}: {e['message']}"
            for e in validate_definition(definition, catalog=catalog, currency=currency)
        ]
        if not warnings:
            warnings = _second_opinion(
                text, definition, catalog=catalog, currency=currency, tiers=tiers
            )
        return {"definition": definition, "source": "llm", "warnings": warnings}
    return parse_offline(text, catalog=catalog, currency=currency, tiers=tiers)
