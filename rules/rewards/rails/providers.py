"""What the provider rails (`paypal`, `stripe_connect`) share: the outage error and amounts.

A provider's answer about an item is one of two kinds. A *decision* (the payout was made, or
refused: unknown account, insufficient funds, invalid receiver) becomes the item's `RailResult`.
An *outage* (no connection, a timeout, a 5xx, a 429, our own credentials refused) says nothing
about whether the money moved: the rail raises `RailUnavailable` and the caller keeps the items
`sent` and asks again later with the same idempotency keys, which the provider answers with the
payout it already made, if it made one. Marking such an item `failed` would book the money back
while the partner may have been paid.
"""

from __future__ import annotations

from decimal import Decimal

from config.platform.currencies import currency_exponent


class RailUnavailable(Exception):
    """The provider could not be asked or did not decide; retry later with the same keys."""

    def __init__(self, rail: str, message: str) -> None:
        super().__init__(f"{rail}: {message}")
        self.rail = rail
        self.message = message


def minor_to_decimal_string(amount: int, currency: str) -> str:
    """`1234, "USD"` → `"12.34"`; `1234, "JPY"` → `"1234"`; `1234, "BHD"` → `"1.234"`: the
    amount in major units with exactly the currency's ISO 4217 exponent, as PayPal wants it."""
    exponent = currency_exponent(currency)
    value = Decimal(amount).scaleb(-exponent)
    return f"{value:.{exponent}f}"


def decimal_string_to_minor(value: str, currency: str) -> int:
    return int(Decimal(value).scaleb(currency_exponent(currency)))
