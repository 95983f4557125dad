"""Paddle Billing (https://developer.paddle.com/webhooks/signature-verification):
`Paddle-Signature: ts=…;h1=…`, an HMAC-SHA256 of `ts:payload` with the notification
destination's secret key, verified by the official SDK's `Verifier` (paddle-python-sdk).

Mapped events (entities as https://developer.paddle.com/webhooks documents them):

- `transaction.completed` → subscription_renewed (origin `subscription_recurring`),
  subscription_started (a transaction that created a subscription), purchase otherwise.
- `adjustment.created` / `adjustment.updated` whose action is `refund` or `chargeback` and whose
  status is `approved` → refund (a refund waits for Paddle's approval: created
  `pending_approval`, then updated `approved`; each adjustment applies once).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paddle_billing.Notifications import Secret, Verifier

from rules.billing.providers.base import (
    TOLERANCE_SECONDS,
    BillingProvider,
    Ignored,
    Lookup,
    Mapped,
    PaymentEvent,
    RefundEvent,
    SignatureInvalid,
    from_iso,
    minor,
    parse_body,
    register,
)

HEADER = "Paddle-Signature"


@dataclass
class _Request:
    """The SDK's Request protocol: the raw body and the headers."""

    body: bytes
    headers: Mapping[str, str]


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    if not headers.get(HEADER):
        raise SignatureInvalid("no Paddle-Signature header")
    try:
        ok = Verifier(maximum_variance=TOLERANCE_SECONDS).verify(
            _Request(body=body, headers=headers), Secret(secret)
        )
    except (ValueError, UnicodeDecodeError, ConnectionRefusedError) as exc:
        raise SignatureInvalid(f"malformed Paddle-Signature: {exc}") from exc
    if not ok:
        raise SignatureInvalid("signature mismatch, or a timestamp outside 5 minutes")
    # The SDK skips its own time check when the environment has TEST_MODE=1: check here too.
    stamp = _timestamp(headers[HEADER])
    if stamp is None or abs(time.time() - stamp) > TOLERANCE_SECONDS:
        raise SignatureInvalid("timestamp outside 5 minutes")
    event = parse_body(body)
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
        raise SignatureInvalid("the signed body is not a Paddle notification")
    return event


def _timestamp(header: str) -> int | None:
    """The one ts= of the header (the SDK reads the last of several, so several are refused)."""
    stamps = [p.partition("=")[2] for p in header.split(";") if p.partition("=")[0] == "ts"]
    if len(stamps) != 1:
        return None
    try:
        return int(stamps[0])
    except ValueError:
        return None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _totals_total(obj: dict[str, Any]) -> int | None:
    details = obj.get("details") or {}
    totals = (details.get("totals") if isinstance(details, dict) else None) or obj.get("totals")
    if not isinstance(totals, dict):
        return None
    return minor(totals.get("grand_total")) or minor(totals.get("total"))


def _transaction(event: dict[str, Any], txn: dict[str, Any]) -> Mapped:
    amount = _totals_total(txn)
    if not amount:
        return Ignored("the transaction's total is zero: nothing was paid")
    origin = txn.get("origin")
    subscription = txn.get("subscription_id") or ""
    if origin == "subscription_recurring":
        kind = "subscription_renewed"
    elif subscription:
        kind = "subscription_started"
    else:
        kind = "purchase"
    custom, discount, customer = (_obj(txn.get(k)) for k in ("custom_data", "discount", "customer"))
    ids = {
        k: v
        for k, v in {
            "customer": txn.get("customer_id"),
            "transaction": txn.get("id"),
            "subscription": subscription,
            "invoice": txn.get("invoice_id"),
        }.items()
        if isinstance(v, str) and v
    }
    return PaymentEvent(
        kind=kind,
        amount=amount,
        currency=str(txn.get("currency_code") or "").upper(),
        occurred_at=from_iso(txn.get("billed_at") or event.get("occurred_at")),
        provider_ids=ids,
        refs=tuple(ids[k] for k in ("transaction",) if k in ids),
        lookup=Lookup(
            client_reference_id=str(custom.get("client_reference_id") or ""),
            metadata={k: v for k, v in custom.items() if isinstance(v, str) and v},
            promotion_codes=(discount["code"],) if isinstance(discount.get("code"), str) else (),
            email=str(customer.get("email") or ""),
            customer=str(txn.get("customer_id") or ""),
        ),
    )


def _adjustment(event: dict[str, Any], adj: dict[str, Any]) -> Mapped:
    action = adj.get("action")
    if action not in ("refund", "chargeback"):
        return Ignored(f"adjustment action {action!r} takes no money back from a payment")
    if adj.get("status") != "approved":
        return Ignored(
            f"adjustment status is {adj.get('status')!r}: it applies when Paddle approves it "
            "(adjustment.updated)"
        )
    amount = _totals_total(adj)
    if not amount:
        return Ignored("the adjustment's total is zero")
    ids = {
        k: v
        for k, v in {
            "customer": adj.get("customer_id"),
            "transaction": adj.get("transaction_id"),
            "adjustment": adj.get("id"),
            "subscription": adj.get("subscription_id"),
        }.items()
        if isinstance(v, str) and v
    }
    return RefundEvent(
        reason="chargeback" if action == "chargeback" else "refund",
        amount=amount,
        currency=str(adj.get("currency_code") or "").upper(),
        occurred_at=from_iso(adj.get("created_at") or event.get("occurred_at")),
        provider_ids=ids,
        payment_refs=tuple(ids[k] for k in ("transaction",) if k in ids),
        refund_ref=f"adjustment:{ids.get('adjustment', '')}",
        refunded=amount,
        # adjustment.created and .updated may both say "approved": one refund event.
        event_key=f"adjustment:{ids.get('adjustment', '')}",
    )


HANDLERS = {
    "transaction.completed": _transaction,
    "adjustment.created": _adjustment,
    "adjustment.updated": _adjustment,
}


def map_event(event: dict[str, Any]) -> Mapped:
    handler = HANDLERS.get(str(event.get("event_type")))
    if handler is None:
        return Ignored(f"{event.get('event_type')!r} is not an event this connector maps")
    return handler(event, _data(event))


PROVIDER = register(
    BillingProvider(
        name="paddle",
        signature_header=HEADER,
        verify=verify,
        event_id=lambda event: str(event.get("event_id") or ""),
        event_type=lambda event: str(event.get("event_type") or ""),
        map=map_event,
        events=tuple(HANDLERS),
        kept_headers=(HEADER, "Content-Type", "User-Agent"),
    )
)
