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
}
# 1,000 / 1,00,000 (Indian grouping) / 1000.50; a trailing comma is punctuation, not a digit group
_NUMBER: Final = r"(\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
MONEY_PATTERN: Final = (
    r"(₹|\$|€|£|rs\.?\s)?\s*" + _NUMBER + r"\s*(rupees?|inr|dollars?|usd|euros?|eur|pounds?|gbp)?"
)
# The kind of reward after an amount: a reward type (credit_reward) or points (award_credits).
_KINDS: Final = r"\s*(vouchers?|coupon|gift card|cash|store credit|credits?|points?)?"


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


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


class PhraseReader:
    """The sentence, what is used of it, the warnings."""

    MONEY: Final = MONEY_PATTERN

    def __init__(self, text: str, currency: str) -> None:
        self.text = " ".join(text.lower().split())
        self.default_currency = currency
        self.used = [False] * len(self.text)
        self.warnings: list[str] = []

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
        code = _CURRENCIES.get((symbol or "").strip()) or _CURRENCIES.get(word or "")
        if code is None:
            code = self.default_currency
            if warn:
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
