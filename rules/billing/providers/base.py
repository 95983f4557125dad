"""What a billing provider module gives the connector: how to verify a delivery and what each
of its events means. Providers register here at start-up (BillingConfig.ready()), one module
per provider, so the receiver, the processing and the admin never name one."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TOLERANCE_SECONDS = 300  # SPEC section 13: a signature older (or newer) than 5 minutes is stale


class SignatureInvalid(Exception):
    """The delivery's signature is missing, malformed, stale or made with another secret."""


@dataclass(frozen=True)
class Lookup:
    """What a provider's object says about who paid, in the order SPEC section 13 reads it."""

    client_reference_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    promotion_codes: tuple[str, ...] = ()
    email: str = ""
    customer: str = ""


@dataclass(frozen=True)
class PaymentEvent:
    """A payment: becomes a purchase / subscription_started / subscription_renewed event."""

    kind: str  # purchase | subscription_started | subscription_renewed
    amount: int  # minor units
    currency: str  # ISO 4217, upper case
    occurred_at: datetime
    provider_ids: dict[str, str]
    refs: tuple[str, ...]  # the provider's ids a later refund may name
    lookup: Lookup
    # The event id after "<provider>:"; defaults to the provider's event id. Two deliveries
    # that describe the same payment (a subscription's checkout and its first invoice) share it.
    event_key: str = ""


@dataclass(frozen=True)
class RefundEvent:
    """A refund, dispute or chargeback: becomes a refund event."""

    reason: str  # refund | dispute | chargeback
    amount: int  # this refund's amount, minor units
    currency: str
    occurred_at: datetime
    provider_ids: dict[str, str]
    payment_refs: tuple[str, ...]  # the payment's ids, most specific first
    # Refunds applied to a payment are kept by reference: `refund_ref` → `refunded`. With
    # `cumulative` the provider reports the running total (Stripe's charge.amount_refunded).
    refund_ref: str
    refunded: int
    cumulative: bool = False
    event_key: str = ""  # as PaymentEvent's: deliveries of one refund share it


@dataclass(frozen=True)
class Ignored:
    reason: str


Mapped = PaymentEvent | RefundEvent | Ignored


@dataclass(frozen=True)
class BillingProvider:
    name: str
    signature_header: str
    # Raises SignatureInvalid; returns the parsed JSON body.
    verify: Callable[[bytes, Mapping[str, str], str], dict[str, Any]]
    event_id: Callable[[dict[str, Any]], str]
    event_type: Callable[[dict[str, Any]], str]
    map: Callable[[dict[str, Any]], Mapped]
    # Which events to subscribe to on the provider's side (docs/INTEGRATIONS.md).
    events: tuple[str, ...] = ()
    kept_headers: tuple[str, ...] = ("Content-Type", "User-Agent")


_registry: dict[str, BillingProvider] = {}


def register(provider: BillingProvider) -> BillingProvider:
    _registry[provider.name] = provider
    return provider


def provider_get(name: str) -> BillingProvider | None:
    return _registry.get(name)


def provider_names() -> list[str]:
    return sorted(_registry)


MAX_MINOR = 2**63 - 1  # a BIGINT column
MAX_DEPTH = 64  # no provider nests its events deeper; a deeper body is refused, not parsed on


def parse_body(body: bytes | str) -> Any:
    """The signed body as JSON, or SignatureInvalid: not UTF-8, not JSON, nested beyond
    MAX_DEPTH (the parser's RecursionError was a 500), or a string holding a NUL or a lone
    surrogate (`\\u0000`, `\\ud800`: PostgreSQL stores neither, so storing the delivery or its
    event id was a 500)."""
    try:
        text_ = body.decode("utf-8") if isinstance(body, bytes) else body
        value = json.loads(text_)
    except (ValueError, RecursionError) as exc:
        raise SignatureInvalid("the signed body is not JSON") from exc
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SignatureInvalid(f"the signed body nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and not storable(item):
            raise SignatureInvalid("the signed body holds a NUL or an unpaired surrogate")
    return value


def storable(value: str) -> bool:
    """Text PostgreSQL can store: no NUL, valid UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def from_timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(tz=UTC)


def from_iso(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(tz=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def text(value: Any) -> str:
    """A provider id that may come expanded ({"id": ...}) or as a plain string."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def minor(value: Any) -> int | None:
    """An amount in minor units: Stripe sends integers, Paddle strings of digits. Negative or
    beyond a 64-bit column: None (no provider sends either; a negative refund recorded under its
    own ref lowered the payment's refunded total and cancelled a real refund)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_MINOR:
        return value
    return None
