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
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

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


PAYPAL_ENVIRONMENTS = frozenset({"sandbox", "production"})


@register()
def check_rail_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Provider rail settings that cannot work: an unknown PayPal environment (the SDK would
    quietly take the sandbox), half a PayPal credential pair."""
    problems: list[CheckMessage] = []
    if str(settings.PAYPAL_ENVIRONMENT).lower() not in PAYPAL_ENVIRONMENTS:
        problems.append(
            Error(
                f"PAYPAL_ENVIRONMENT is {settings.PAYPAL_ENVIRONMENT!r}.",
                hint="Set it to sandbox or production.",
                id="rails.E001",
            )
        )
    if bool(settings.PAYPAL_CLIENT_ID) != bool(settings.PAYPAL_CLIENT_SECRET):
        problems.append(
            Warning(
                "Only one of PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET is set: the paypal rail "
                "cannot pay.",
                hint="Set both (the REST app's client id and secret), or neither.",
                id="rails.W001",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_rail_endpoints(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """In production the SDKs talk to the providers over HTTPS: a plain-HTTP base URL is a test
    stub left in the settings (or an interceptor)."""
    problems: list[CheckMessage] = []
    for name in ("STRIPE_API_BASE", "PAYPAL_BASE_URL"):
        url = getattr(settings, name, "")
        if url and urlsplit(url).scheme != "https":
            problems.append(
                Warning(
                    f"{name} is {url!r}: the payout rail would send credentials and payouts "
                    "over plain HTTP.",
                    hint="Use the provider's https URL (or leave PAYPAL_BASE_URL empty).",
                    id="rails.W002",
                )
            )
    return problems
