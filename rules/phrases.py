"""Reading amounts, currencies and beneficiaries out of an English sentence: the toolkit the
offline drafter (rules.nl) and every rule action's phrases (RuleAction.draft) share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from config.platform.currencies import currency_exponent

_CURRENCIES: Final = {
    "₹": "INR",
    "rs": "INR",
    "rs.": "INR",
    "inr": "INR",
    "rupee": "INR",
    "rupees": "INR",
    "$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "¥": "JPY",
    "yen": "JPY",
    "jpy": "JPY",
}
# 1,000 / 1,00,000 (Indian grouping) / 1000.50; a trailing comma is punctuation, not a digit
# group; "5k", "2 lakh", "1.5 crore", "3 million" are the number times its word
_NUMBER: Final = (
    r"((?:\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?:k|thousand|lakhs?|lacs?|crores?|cr|million|mn)\b)?)"
)
_MULTIPLIERS: Final = {
    "k": 3,
    "thousand": 3,
    "lakh": 5,
    "lakhs": 5,
    "lac": 5,
    "lacs": 5,
    "crore": 7,
    "crores": 7,
    "cr": 7,
    "million": 6,
    "mn": 6,
}
MONEY_PATTERN: Final = (
    r"(₹|\$|€|£|¥|rs\.?\s)?\s*"
    + _NUMBER
    + r"\s*(rupees?|inr|dollars?|usd|euros?|eur|pounds?|gbp|yen|jpy)?\b"
)
# A currency named anywhere in a sentence (a bare amount elsewhere in it takes that currency).
_NAMED_CURRENCY: Final = re.compile(
    r"(₹|\$|€|£|¥|\brs\.?(?=\s*\d))|\b(rupees?|inr|dollars?|usd|euros?|eur|pounds?|gbp|yen|jpy)\b"
)
# Who is paid or spoken of: the longest phrases first ("the referrer's referrer" before
# "the referrer").
ROLE_PATTERN: Final = (
    r"\b(?:(both(?: of them| parties| sides)?|each of them)"
    r"|(?:the |their )?(referrer's referrer|parent|grandparent|upline)"
    r"|(?:the |their |a |an )?(referred (?:user|friend|person|customer)|new (?:user|member|customer)"
    r"|referee|friend|invitee|buyer|customer|new signup)"
    r"|(?:the |their )?(referrer|referring (?:user|partner|member)|inviter|advocate|partner))\b"
    r"(?!'s\b)"
)
_ROLE_RE: Final = re.compile(ROLE_PATTERN)
_REWARD_VERB: Final = re.compile(
    r"\b(?:reward|give|gives|pay|pays|credit|award|grant|send|earn|earns|gets?|receives?)\b"
)
# The kind of reward after an amount: a reward type (credit_reward) or points (award_credits).
_KINDS: Final = r"\s*(vouchers?|coupon|gift card|cash|store credit|credits?|points?)?"


def _number(text: str) -> Decimal | None:
    """ "1,500" -> 1500, "5k" -> 5000, "2 lakh" -> 200000."""
    found = re.fullmatch(r"([\d,.]+)\s?([a-z]*)", text.strip())
    if found is None:
        return None
    try:
        value = Decimal(found.group(1).replace(",", ""))
    except InvalidOperation:
        return None
    if found.group(2):
        if found.group(2) not in _MULTIPLIERS:
            return None
        value = value.scaleb(_MULTIPLIERS[found.group(2)])
    return value


@dataclass(frozen=True)
class RewardPhrase:
    """ "reward 500 rupees voucher": the amount's symbol, number and currency word, the kind
    word, the text after the verb (it names the beneficiaries) and the span it covers."""

    symbol: str | None
    number: str
    currency_word: str | None
    kind: str | None
    tail: str
    span: tuple[int, int]


def roles_in(text: str) -> list[str]:
    """The roles a clause names, in order ("both" is the referrer and the referred user)."""
    roles: list[str] = []
    for match in _ROLE_RE.finditer(text):
        if match.group(1):
            found = ["referrer", "referred"]
        elif match.group(2):
            found = ["parent"]
        elif match.group(3):
            found = ["referred"]
        else:
            found = ["referrer"]
        roles += [role for role in found if role not in roles]
    return roles


def _paid_roles(text: str) -> list[str]:
    """The roles of a clause that speak of who is paid: not those of a "when a friend buys"
    part without an amount or a reward verb, nor a possessive ("the friend's order")."""
    roles: list[str] = []
    pieces = re.split(r"\b(?=when|whenever|if|unless|once|where|after|because|who)\b", text)
    for piece in pieces:
        verb = _REWARD_VERB.search(piece)
        if verb:  # "when a friend purchases give the referrer 100 rupees": after the verb
            piece = piece[verb.start() :]
        if verb or re.search(r"\d", piece) or re.search(r"\bto\b", piece):
            roles += [role for role in roles_in(piece) if role not in roles]
    return roles


@dataclass
class Segment:
    """A clause of what is left of the sentence once the trigger and the conditions are read:
    the drafter's actions each claim the clauses that speak of them."""

    start: int
    end: int
    text: str
    roles: list[str]
    verb: bool
    claimed: bool = False


class PhraseReader:
    """The sentence, what is used of it, the warnings."""

    MONEY: Final = MONEY_PATTERN
    ROLE: Final = ROLE_PATTERN

    def __init__(self, text: str, currency: str) -> None:
        self.text = " ".join(text.lower().replace("\u2019", "'").split())
        self.program_currency = currency
        named = {
            _CURRENCIES.get((m.group(1) or m.group(2) or "").strip().rstrip("."), "INR")
            for m in _NAMED_CURRENCY.finditer(self.text)
        }
        # one currency named in the sentence: its bare amounts are in it too
        self.sentence_currency = next(iter(named)) if len(named) == 1 else None
        self.default_currency = self.sentence_currency or currency
        self.used = [False] * len(self.text)
        self.warnings: list[str] = []
        self._segments: list[Segment] | None = None

    def consume(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.used[i] = True

    def free_text(self) -> str:
        """The sentence with what has been read blanked out (positions kept)."""
        return "".join(" " if used else ch for ch, used in zip(self.text, self.used, strict=True))

    def segments(self) -> list[Segment]:
        """The clauses of the unread text (computed once, when the actions are drafted)."""
        if self._segments is None:
            free = self.free_text()
            bounds = [0]
            for sep in re.finditer(r",(?!\d)|;|(?<!rs)\.(?!\d)|\b(?:and|then|plus|but)\b", free):
                bounds += [sep.start(), sep.end()]
            bounds.append(len(free))
            self._segments = []
            for start, end in zip(bounds[::2], bounds[1::2], strict=True):
                text = free[start:end]
                if text.strip():
                    self._segments.append(
                        Segment(
                            start,
                            end,
                            text,
                            _paid_roles(text),
                            bool(_REWARD_VERB.search(text)) or text.strip().startswith("to "),
                        )
                    )
        return self._segments

    def roles_for(self, segment: Segment) -> list[str]:
        """Who a clause pays: its own roles, else those of a preceding "give the referrer"
        clause without an amount ("give the referrer and the friend 50 rupees each"), else
        the referrer."""
        segments = self.segments()
        index = segments.index(segment)
        pending: list[str] = []
        for previous in reversed(segments[:index]):
            if previous.claimed or not previous.verb or not previous.roles:
                break
            if re.search(r"\d", previous.text):
                break
            pending = previous.roles + [r for r in pending if r not in previous.roles]
            previous.claimed = True
            self.consume_roles(previous)
        own = segment.roles
        if pending:
            return pending + [r for r in own if r not in pending]
        return own or ["referrer"]

    def compared(self, segment: Segment, match: re.Match[str]) -> bool:
        """Whether an amount in a clause follows a comparison ("over 3000 rupees"): then it
        is part of a condition, never a reward."""
        return bool(
            re.search(
                r"\b(?:over|above|under|below|more than|less than|fewer than|at least|at most|"
                r"greater than|exceeding|between|minimum|min|worth|costing|of at least)\s*$",
                segment.text[: match.start()],
            )
        )

    def consume_roles(self, segment: Segment) -> None:
        for match in _ROLE_RE.finditer(segment.text):
            self.consume(segment.start + match.start(), segment.start + match.end())
        for match in re.finditer(r"\b(?:to|each)\b", segment.text):
            self.consume(segment.start + match.start(), segment.start + match.end())

    def claim_segment(self, segment: Segment, match: re.Match[str] | None = None) -> None:
        """Mark a clause as read: the match within it, its roles and its reward verb."""
        segment.claimed = True
        if match is not None:
            self.consume(segment.start + match.start(), segment.start + match.end())
        self.consume_roles(segment)
        for verb in _REWARD_VERB.finditer(segment.text):
            self.consume(segment.start + verb.start(), segment.start + verb.end())

    def amount(self, symbol: str | None, number: str, word: str | None, *, what: str) -> int | None:
        """A money amount in the program's minor units, for a condition or a cap: a foreign
        currency is warned about, never converted."""
        parsed = self.money(symbol, number, word)
        if parsed is None:
            return None
        value, code = parsed
        if code != self.program_currency:
            self.warnings.append(
                f"{what} {number} is in {code}, the program's amounts are in "
                f"{self.program_currency}: read as {number} {self.program_currency}"
            )
            major = _number(number) or Decimal(0)
            return int(major.scaleb(currency_exponent(self.program_currency)))
        return value

    def find(self, pattern: str, consume: bool = True) -> re.Match[str] | None:
        match = re.search(pattern, self.text)
        if match and consume:
            for i in range(match.start(), match.end()):
                self.used[i] = True
        return match

    def money(
        self, symbol: str | None, number: str, word: str | None, *, warn: bool = True
    ) -> tuple[int, str] | None:
        value = _number(number)
        if value is None:
            return None
        code = _CURRENCIES.get((symbol or "").strip().rstrip(".") or "") or _CURRENCIES.get(
            word or ""
        )
        if code is None:
            code = self.default_currency
            if warn and self.sentence_currency is None:
                self.warnings.append(f"no currency given for {number}; assumed {code}")
        return int(value.scaleb(currency_exponent(code))), code

    def beneficiaries(self, clause: str) -> list[str]:
        if re.search(r"\bboth\b", clause):
            return ["referrer", "referred"]
        if re.search(
            r"\b(?:referred (?:user|friend|person)|new (?:user|member)|referee|"
            r"friend)\b",
            clause,
        ):
            return ["referred"]
        if re.search(r"\b(?:parent|referrer's referrer)\b", clause):
            return ["parent"]
        return ["referrer"]

    def number(self, text: str) -> Decimal | None:
        return _number(text)

    def reward_phrase(self) -> RewardPhrase | None:
        """The sentence's "reward/give/pay <amount> [kind]" phrase (not consumed)."""
        verb = self.find(r"\b(?:reward|give|pay|credit|award|grant)s?\b(.*)$", consume=False)
        tail = verb.group(1) if verb else self.text
        money = re.search(MONEY_PATTERN + _KINDS, tail)
        if not money:
            return None
        start = (verb.start(1) if verb else 0) + money.start()
        return RewardPhrase(
            symbol=money.group(1),
            number=money.group(2),
            currency_word=money.group(3),
            kind=money.group(4),
            tail=tail,
            span=(verb.start() if verb else start, start + len(money.group(0))),
        )

    def claim(self, phrase: RewardPhrase) -> None:
        for i in range(*phrase.span):
            self.used[i] = True

    def claim_beneficiary(self) -> None:
        self.find(
            r"\b(?:both|(?:the )?(?:referred (?:user|friend|person)|new (?:user|member)"
            r"|referee|parent|referrer's referrer|referrer))\b"
        )
