"""Billing connector fixtures: an integration per provider, a commission rule, and posting
deliveries signed the way each provider documents (the test computes the HMAC; the official
SDKs verify it in the receiver)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "billing"
STRIPE_SECRET = "whsec_test_0123456789abcdefSECRET"
PADDLE_SECRET = "pdl_ntfset_01hv_test_secret_key_abcd"


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


def stripe_signature(body: str, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def paddle_signature(body: str, secret: str = PADDLE_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"ts={at};h1={mac}"


def post_stripe(
    event: dict[str, Any],
    *,
    secret: str = STRIPE_SECRET,
    at: int | None = None,
    program: str = "acme",
    client: Client | None = None,
    signature: str | None = None,
):
    body = json.dumps(event)
    return (client or Client()).post(
        f"/hooks/stripe/{program}",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature
        if signature is not None
        else stripe_signature(body, secret, at),
    )


def post_paddle(
    event: dict[str, Any], *, secret: str = PADDLE_SECRET, at: int | None = None, program="acme"
):
    body = json.dumps(event)
    return Client().post(
        f"/hooks/paddle/{program}",
        data=body,
        content_type="application/json",
        HTTP_PADDLE_SIGNATURE=paddle_signature(body, secret, at),
    )


def checkout(
    *,
    event_id: str = "evt_checkout_1",
    amount: int = 50000,
    payment_intent: str = "pi_1",
    client_reference_id: str | None = None,
    metadata: dict[str, str] | None = None,
    email: str = "bob@example.com",
    customer: str = "cus_bob",
    discounts: list | None = None,
) -> dict[str, Any]:
    event = fixture("stripe_checkout_session_completed")
    event["id"] = event_id
    session = event["data"]["object"]
    session.update(
        amount_total=amount,
        amount_subtotal=amount,
        payment_intent=payment_intent,
        client_reference_id=client_reference_id,
        metadata={"participant": "bob"} if metadata is None else metadata,
        customer=customer,
        discounts=discounts or [],
    )
    session["customer_details"]["email"] = email
    return event


def charge_refunded(
    *,
    event_id: str = "evt_refund_1",
    payment_intent: str = "pi_1",
    amount: int = 50000,
    refunded: int = 50000,
    latest: int | None = None,
) -> dict[str, Any]:
    event = fixture("stripe_charge_refunded")
    event["id"] = event_id
    charge = event["data"]["object"]
    charge.update(
        amount=amount, amount_refunded=refunded, payment_intent=payment_intent, customer="cus_bob"
    )
    charge["refunds"]["data"][0].update(
        amount=latest if latest is not None else refunded, payment_intent=payment_intent
    )
    return event


COMMISSION_RULE = {
    "name": "10% of every purchase",
    "trigger": "purchase",
    "priority": 0,
    "stop_processing": False,
    "conditions": {"operator": "AND", "conditions": []},
    "actions": [
        {
            "type": "percent_commission",
            "params": {
                "beneficiary": "referrer",
                "rate_bps": 1000,
                "of": "event.amount",
                "reward_type": "cash",
            },
        }
    ],
}


@pytest.fixture(autouse=True)
def _inline_processing(settings):
    """No broker: deliveries and events are processed in-process after commit."""
    settings.CELERY_BROKER_URL = ""


@pytest.fixture
def integrate(program):
    from rules.billing.services.integrations import integration_put

    def do(provider: str = "stripe", *, policy: str = "reverse_or_clawback", mapping=None):
        secret = STRIPE_SECRET if provider == "stripe" else PADDLE_SECRET
        return integration_put(
            program=program,
            provider=provider,
            signing_secret=secret,
            refund_policy=policy,
            mapping=mapping or {},
            actor="test",
        )[0]

    return do


@pytest.fixture
def commission(program):
    """A published rule paying the referrer 10% of every purchase, for every trigger given."""
    from rules.catalog import BUILTIN_TRIGGERS
    from rules.services.program_config import rules_config_update
    from rules.services.rules import rule_create, rule_publish

    def do(*triggers: str):
        money = {"event.amount": "number", "event.currency": "string"}
        custom = {
            t: {"description": t, "fields": money} for t in triggers if t not in BUILTIN_TRIGGERS
        }
        if custom:  # a renamed trigger: the program adds it to its catalog
            rules_config_update(
                program=program, changes={"custom_catalog": {"triggers": custom}}, actor="test"
            )
        for trigger in triggers or ("purchase",):
            definition = {**COMMISSION_RULE, "trigger": trigger, "name": f"10% of {trigger}"}
            rule = rule_create(program=program, definition=definition, actor="test")
            rule_publish(rule=rule, actor="test")

    return do


@pytest.fixture
def referred(program):
    """alice referred bob (the buyer)."""
    from rules.services.referrals import referral_create

    referral_create(program=program, referrer="alice", referred="bob", actor="test")
    return "bob"
