"""Stripe (https://docs.stripe.com/webhooks): `Stripe-Signature: t=…,v1=…`, an HMAC-SHA256 of
`t.payload` with the endpoint's signing secret, verified by the official SDK.

Mapped events (API objects as https://docs.stripe.com/api documents them):

- `checkout.session.completed` (and `checkout.session.async_payment_succeeded`), paid: mode
  `payment` → purchase; mode `subscription` → subscription_started.
- `invoice.paid`: `billing_reason` `subscription_create` → subscription_started (the same
  event as the subscription's checkout session: whichever arrives first records it),
  `subscription_cycle` → subscription_renewed, anything else with money → purchase.
- `charge.refunded` → refund (partial refunds too: `amount_refunded` is the running total);
  `charge.dispute.created` → refund (reason dispute).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import stripe

from rules.billing.providers.base import (
    TOLERANCE_SECONDS,
    BillingProvider,
    Ignored,
    Lookup,
    Mapped,
    PaymentEvent,
    RefundEvent,
    SignatureInvalid,
    from_timestamp,
    minor,
    parse_body,
    register,
    text,
)

HEADER = "Stripe-Signature"


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    header = headers.get(HEADER) or ""
    try:
        payload = body.decode("utf-8")
        stripe.WebhookSignature.verify_header(payload, header, secret, TOLERANCE_SECONDS)
        # The SDK checks only the past; a timestamp far in the future is as stale.
        # The SDK signs with the first t; a second one must not be what the future check reads.
        stamps = [p.split("=", 1)[1] for p in header.split(",") if p.split("=", 1)[0] == "t"]
        if len(stamps) != 1:
            raise ValueError("exactly one t= is expected")
        stamp = int(stamps[0])
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, KeyError) as exc:
        raise SignatureInvalid(str(exc).splitlines()[0] if str(exc) else "bad signature") from exc
    if stamp > time.time() + TOLERANCE_SECONDS:
        raise SignatureInvalid("Timestamp outside the tolerance zone")
    event = parse_body(payload)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise SignatureInvalid("the signed body is not a Stripe event")
    return event


def _object(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def _metadata(*sources: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for source in reversed(sources):  # the first source wins
        if isinstance(source, dict):
            out.update({k: v for k, v in source.items() if isinstance(v, str) and v})
    return out


def _promotion_codes(obj: dict[str, Any]) -> tuple[str, ...]:
    """Codes customers typed: expanded promotion codes carry `code`; a bare id (promo_…) is
    kept as it is, so a coupon created with the same id in the program still matches."""
    codes: list[str] = []
    entries = list(obj.get("discounts") or [])
    if isinstance(obj.get("discount"), dict):
        entries.append(obj["discount"])
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        promo = entry.get("promotion_code")
        if isinstance(promo, dict) and isinstance(promo.get("code"), str):
            codes.append(promo["code"])
        elif isinstance(promo, str) and promo:
            codes.append(promo)
    return tuple(codes)


def _ids(**ids: Any) -> dict[str, str]:
    return {k: text(v) for k, v in ids.items() if text(v)}


def _checkout(event: dict[str, Any], session: dict[str, Any]) -> Mapped:
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return Ignored(
            f"payment_status is {session.get('payment_status')!r}: an asynchronous payment "
            "arrives as checkout.session.async_payment_succeeded"
        )
    mode = session.get("mode")
    amount = minor(session.get("amount_total"))
    if mode not in ("payment", "subscription"):
        return Ignored(f"checkout mode {mode!r} takes no payment")
    if not amount:
        return Ignored("the session's amount_total is zero: nothing was paid")
    subscription = text(session.get("subscription"))
    customer_details = session.get("customer_details") or {}
    lookup = Lookup(
        client_reference_id=session.get("client_reference_id") or "",
        metadata=_metadata(session.get("metadata")),
        promotion_codes=_promotion_codes(session),
        email=(customer_details.get("email") if isinstance(customer_details, dict) else "")
        or session.get("customer_email")
        or "",
        customer=text(session.get("customer")),
    )
    ids = _ids(
        customer=session.get("customer"),
        checkout_session=session.get("id"),
        payment_intent=session.get("payment_intent"),
        invoice=session.get("invoice"),
        subscription=subscription,
    )
    refs = tuple(ids[k] for k in ("checkout_session", "payment_intent", "invoice") if k in ids)
    started = mode == "subscription" and subscription
    return PaymentEvent(
        kind="subscription_started" if mode == "subscription" else "purchase",
        amount=amount,
        currency=str(session.get("currency") or "").upper(),
        occurred_at=from_timestamp(event.get("created")),
        provider_ids=ids,
        refs=refs,
        lookup=lookup,
        event_key=f"subscription:{subscription}:started" if started else "",
    )


def _invoice(event: dict[str, Any], invoice: dict[str, Any]) -> Mapped:
    amount = minor(invoice.get("amount_paid"))
    if not amount:
        return Ignored("the invoice's amount_paid is zero (a trial or a credit): nothing paid")
    parent = invoice.get("parent") or {}
    details = (parent.get("subscription_details") if isinstance(parent, dict) else None) or {}
    subscription = text(invoice.get("subscription")) or text(details.get("subscription"))
    reason = invoice.get("billing_reason")
    if reason == "subscription_create" and subscription:
        kind, key = "subscription_started", f"subscription:{subscription}:started"
    elif reason == "subscription_cycle":
        kind, key = "subscription_renewed", ""
    else:
        kind, key = "purchase", ""
    lines = invoice.get("subscription_details") or {}
    ids = _ids(
        customer=invoice.get("customer"),
        invoice=invoice.get("id"),
        payment_intent=invoice.get("payment_intent"),
        charge=invoice.get("charge"),
        subscription=subscription,
    )
    refs = tuple(ids[k] for k in ("invoice", "payment_intent", "charge") if k in ids)
    return PaymentEvent(
        kind=kind,
        amount=amount,
        currency=str(invoice.get("currency") or "").upper(),
        occurred_at=from_timestamp(event.get("created")),
        provider_ids=ids,
        refs=refs,
        lookup=Lookup(
            metadata=_metadata(
                invoice.get("metadata"),
                details.get("metadata"),
                lines.get("metadata") if isinstance(lines, dict) else None,
            ),
            promotion_codes=_promotion_codes(invoice),
            email=invoice.get("customer_email") or "",
            customer=text(invoice.get("customer")),
        ),
        event_key=key,
    )


def _charge_refunded(event: dict[str, Any], charge: dict[str, Any]) -> Mapped:
    total = minor(charge.get("amount_refunded"))
    if not total:
        return Ignored("amount_refunded is zero")
    refunds = charge.get("refunds")
    latest = None
    if isinstance(refunds, dict) and refunds.get("data"):
        latest = refunds["data"][0]
    amount = minor(latest.get("amount")) if isinstance(latest, dict) else None
    ids = _ids(
        customer=charge.get("customer"),
        charge=charge.get("id"),
        payment_intent=charge.get("payment_intent"),
        invoice=charge.get("invoice"),
        refund=latest,
    )
    return RefundEvent(
        reason="refund",
        amount=amount or total,
        currency=str(charge.get("currency") or "").upper(),
        occurred_at=from_timestamp(event.get("created")),
        provider_ids=ids,
        payment_refs=tuple(ids[k] for k in ("payment_intent", "charge", "invoice") if k in ids),
        refund_ref=f"charge:{ids.get('charge', '')}",
        refunded=total,
        cumulative=True,
    )


def _dispute(event: dict[str, Any], dispute: dict[str, Any]) -> Mapped:
    amount = minor(dispute.get("amount"))
    if not amount:
        return Ignored("the dispute's amount is zero")
    ids = _ids(
        dispute=dispute.get("id"),
        charge=dispute.get("charge"),
        payment_intent=dispute.get("payment_intent"),
    )
    return RefundEvent(
        reason="dispute",
        amount=amount,
        currency=str(dispute.get("currency") or "").upper(),
        occurred_at=from_timestamp(event.get("created")),
        provider_ids=ids,
        payment_refs=tuple(ids[k] for k in ("payment_intent", "charge") if k in ids),
        refund_ref=f"dispute:{ids.get('dispute', '')}",
        refunded=amount,
    )


HANDLERS = {
    "checkout.session.completed": _checkout,
    "checkout.session.async_payment_succeeded": _checkout,
    "invoice.paid": _invoice,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
}


def map_event(event: dict[str, Any]) -> Mapped:
    handler = HANDLERS.get(str(event.get("type")))
    if handler is None:
        return Ignored(f"{event.get('type')!r} is not an event this connector maps")
    return handler(event, _object(event))


PROVIDER = register(
    BillingProvider(
        name="stripe",
        signature_header=HEADER,
        verify=verify,
        event_id=lambda event: str(event.get("id") or ""),
        event_type=lambda event: str(event.get("type") or ""),
        map=map_event,
        events=tuple(HANDLERS),
        kept_headers=(HEADER, "Content-Type", "User-Agent"),
    )
)
