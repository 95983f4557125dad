"""Attacks on the public billing receivers /hooks/{provider}/{program} and on
P/integrations/{provider} (SPEC section 13): signature bypasses, hostile bodies, the secret's
leaks. Every refusal is a 400 or 404 problem+json, never a 500, and writes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from django.test import Client

from rules.billing.models import Delivery
from tests.billing.conftest import (  # noqa: F401  (fixtures)
    PADDLE_SECRET,
    STRIPE_SECRET,
    _inline_processing,
    charge_refunded,
    checkout,
    commission,
    integrate,
    paddle_signature,
    referred,
    stripe_signature,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _post(provider: str, body: bytes | str, signature: str | None, program: str = "acme", **extra):
    header = "HTTP_STRIPE_SIGNATURE" if provider == "stripe" else "HTTP_PADDLE_SIGNATURE"
    headers: dict[str, Any] = {header: signature} if signature is not None else {}
    return Client(raise_request_exception=False).post(
        f"/hooks/{provider}/{program}",
        data=body,
        content_type="application/json",
        **headers,
        **extra,
    )


def _mac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _stripe_sig(body: bytes, at: int | None = None, secret: str = STRIPE_SECRET) -> str:
    at = int(time.time()) if at is None else at
    return f"t={at},v1={_mac(secret, str(at).encode() + b'.' + body)}"


def _paddle_sig(body: bytes, at: int | None = None, secret: str = PADDLE_SECRET) -> str:
    at = int(time.time()) if at is None else at
    return f"ts={at};h1={_mac(secret, str(at).encode() + b':' + body)}"


def _sign(provider: str, body: bytes, at: int | None = None) -> str:
    return _stripe_sig(body, at) if provider == "stripe" else _paddle_sig(body, at)


def _refused(response, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"]
    assert Delivery.objects.count() == 0


def _event(provider: str, **fields) -> dict:
    if provider == "stripe":
        return {"id": "evt_x", "type": "checkout.session.completed", **fields}
    return {"event_id": "evt_x", "event_type": "transaction.completed", **fields}


PROVIDERS = ["stripe", "paddle"]


@pytest.fixture
def both(program, integrate):  # noqa: F811
    integrate("stripe")
    integrate("paddle")
    return program


# --- signature bypasses (held before this file; kept as regression tests) -----------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_missing_empty_and_garbage_signatures_are_400(both, provider):
    body = json.dumps(_event(provider)).encode()
    for signature in (
        None,
        "",
        "garbage",
        "t=,v1=",
        "ts=;h1=",
        "t=abc,v1=00",
        "ts=abc;h1=00",
        "t=1=2,v1=3",
        "ts=1=2;h1=3",
        "v1=" + "0" * 64,
        "h1=" + "0" * 64,
    ):
        _refused(_post(provider, body, signature))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_uppercase_hex_and_extra_entries(both, provider):
    body = json.dumps(_event(provider)).encode()
    good = _sign(provider, body)
    if provider == "stripe":
        t, v1 = good.split(",")
        _refused(_post(provider, body, f"{t},v1={v1[3:].upper()}"))
        _refused(_post(provider, body, f"{t},v0={v1[3:]}"))
        # several v1 entries, one good: Stripe documents accepting any (key rotation)
        assert _post(provider, body, f"{t},v1={'0' * 64},{v1}").status_code == 200
    else:
        ts, h1 = good.split(";")
        _refused(_post(provider, body, f"{ts};h1={h1[3:].upper()}"))
        assert _post(provider, body, f"{ts};h1={'0' * 64};{h1}").status_code == 200


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("offset", [-301, 301, -(10**6), 10**6, 10**12])
def test_timestamps_outside_five_minutes_are_400(both, provider, offset):
    body = json.dumps(_event(provider)).encode()
    _refused(_post(provider, body, _sign(provider, body, int(time.time()) + offset)))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_paddle_sdk_test_mode_does_not_disable_the_time_check(both, provider, monkeypatch):
    """The Paddle SDK skips its time-drift check when TEST_MODE=1 is in the environment (an
    env var name many deployments set for other reasons)."""
    monkeypatch.setenv("TEST_MODE", "1")
    body = json.dumps(_event(provider)).encode()
    _refused(_post(provider, body, _sign(provider, body, int(time.time()) - 86400)))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_replayed_signature_with_a_modified_body_is_400(both, provider):
    body = json.dumps(_event(provider)).encode()
    signature = _sign(provider, body)
    assert _post(provider, body, signature).status_code == 200
    Delivery.objects.all().delete()
    for changed in (body + b" ", body.replace(b"evt_x", b"evt_y"), b" " + body):
        _refused(_post(provider, changed, signature))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wrong_program_unknown_provider_and_foreign_secret(both, provider):
    from config.platform.models import Program

    Program.objects.create(slug="other", name="Other", currency="INR")
    body = json.dumps(_event(provider)).encode()
    _refused(_post(provider, body, _sign(provider, body), program="other"), 404)
    _refused(_post(provider, body, _sign(provider, body), program="nope"), 404)
    _refused(_post("braintree", body, _sign(provider, body)), 404)
    _refused(_post("STRIPE", body, _sign(provider, body)), 404)
    secret = "whsec_other_secret_123456" if provider == "stripe" else "pdl_other_secret_1234"
    at = int(time.time())
    sep = b"." if provider == "stripe" else b":"
    mac = _mac(secret, str(at).encode() + sep + body)
    sig = f"t={at},v1={mac}" if provider == "stripe" else f"ts={at};h1={mac}"
    _refused(_post(provider, body, sig))


# --- hostile bodies under a valid signature (an insider, or a replay within 5 minutes) ----


def _deep(n: int) -> bytes:
    return b'{"id": "evt_deep", "id2": ' + b"[" * n + b"]" * n + b"}"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "body",
    [
        b"\x00",
        b'{"id": "evt_\x00", "event_id": "evt_\x00"}',
        b"\xff\xfe{}",
        b'{"id": "evt_\xc3\x28"}',
        b"[]",
        b"null",
        b"",
        b'{"id": 5, "event_id": 5}',
        b'{"id": "' + b"x" * 300 + b'", "event_id": "' + b"x" * 300 + b'"}',
        b'{"id": "evt_\\u0000", "event_id": "evt_\\u0000", "type": "a", "event_type": "a"}',
        b'{"id": "evt_nul", "event_id": "evt_nul", "type": "a\\u0000", "event_type": "a\\u0000"}',
        b'{"id": "evt_s", "event_id": "evt_s", "type": "\\ud800", "event_type": "\\ud800"}',
        b'{"id": "\\ud800", "event_id": "\\ud800"}',
    ],
    ids=lambda b: repr(b[:30]),
)
def test_hostile_signed_bodies_are_400_never_500(both, provider, body):
    response = _post(provider, body, _sign(provider, body))
    _refused(response)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_deeply_nested_json_is_400_not_500(both, provider):
    body = _deep(100_000)
    _refused(_post(provider, body, _sign(provider, body)))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_nul_in_a_kept_header_is_not_a_500(both, provider):
    """User-Agent is not signed: a replay of a valid delivery can change it."""
    body = json.dumps(_event(provider)).encode()
    response = _post(provider, body, _sign(provider, body), HTTP_USER_AGENT="a\x00b")
    assert response.status_code in (200, 400), response.content[:300]
    assert response.status_code != 500


# --- hostile amounts: stored, then refused by processing without touching money ----------


def _stripe_post(event: dict):
    body = json.dumps(event).encode()
    return _post("stripe", body, _stripe_sig(body))


@pytest.mark.parametrize("amount", [-50000, 2**63, 10**30, "-5", "\uff15\uff10", 1.5])
def test_hostile_payment_amounts_pay_nothing(program, integrate, commission, referred, amount):  # noqa: F811
    from rules.rewards.models import Reward

    integrate("stripe")
    commission("purchase")
    response = _stripe_post(checkout(amount=amount))
    assert response.status_code in (200, 400), response.content[:300]
    assert not Reward.objects.exists()
    delivery = Delivery.objects.first()
    assert delivery is None or delivery.status != Delivery.Status.PROCESSED, delivery.reason


def test_a_negative_refund_does_not_cancel_a_real_one(program, integrate, commission, referred):  # noqa: F811
    """A dispute of -50000 recorded under its own ref lowered the payment's refunded total, so
    a later real full refund left the commission standing."""
    from rules.rewards.models import Reward

    integrate("stripe")
    commission("purchase")
    assert _stripe_post(checkout()).status_code == 200
    reward = Reward.objects.get()
    dispute = {
        "id": "evt_dispute_neg",
        "type": "charge.dispute.created",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "dp_1",
                "object": "dispute",
                "amount": -50000,
                "currency": "inr",
                "charge": "ch_1",
                "payment_intent": "pi_1",
            }
        },
    }
    _stripe_post(dispute)
    assert _stripe_post(charge_refunded()).status_code == 200
    reward.refresh_from_db()
    assert reward.status in (Reward.Status.REVERSED, Reward.Status.CLAWED_BACK), reward.status


def test_a_refund_larger_than_its_payment_takes_back_only_the_commission(
    program,
    integrate,  # noqa: F811
    commission,  # noqa: F811
    referred,  # noqa: F811
):
    from rules.rewards.models import Reward

    integrate("stripe")
    commission("purchase")
    assert _stripe_post(checkout()).status_code == 200
    assert _stripe_post(charge_refunded(amount=50000, refunded=10**9)).status_code == 200
    rewards = list(Reward.objects.order_by("pk"))
    assert [r.status for r in rewards] == [Reward.Status.REVERSED]
    # a second, cumulative delivery of the same charge changes nothing
    assert _stripe_post(charge_refunded(event_id="evt_refund_2", refunded=10**9)).status_code == 200
    assert Reward.objects.count() == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_second_timestamp_does_not_pass_a_stale_signature(both, provider, monkeypatch):
    """Each SDK binds the signature to one of several timestamps (Stripe the first, Paddle the
    last); the receiver's own time check read the other one, so a stale (or future-dated)
    signature passed with a fresh timestamp beside it."""
    monkeypatch.setenv("TEST_MODE", "1")  # Paddle's SDK then skips its own time check
    body = json.dumps(_event(provider)).encode()
    now = int(time.time())
    if provider == "stripe":
        at = now + 86400  # the SDK only checks the past
        stale = _stripe_sig(body, at)
        header = f"{stale},t={now}"
    else:
        at = now - 86400
        stale = _paddle_sig(body, at)
        header = f"ts={now};{stale}"
    _refused(_post(provider, body, header))


def test_a_refund_whose_wake_up_was_lost_is_found_by_the_sweep(
    program,
    integrate,  # noqa: F811
    commission,  # noqa: F811
    referred,  # noqa: F811
    monkeypatch,
):
    """A refund processed while its payment is being processed (two workers) reads no payment
    and commits `waiting_for`; the payment's wake-up read the refund before that commit and
    found nothing to wake. The sweep skipped every waiting refund, so the commission on a
    refunded sale was never reversed."""
    from rules.billing.services import processing
    from rules.billing.tasks import deliveries_sweep
    from rules.rewards.models import Reward

    integrate("stripe")
    commission("purchase")
    assert _stripe_post(charge_refunded()).status_code == 200
    refund = Delivery.objects.get()
    assert refund.waiting_for == "pi_1"
    monkeypatch.setattr(processing, "_wake_refunds", lambda delivery, *, refs: None)  # the race
    assert _stripe_post(checkout()).status_code == 200
    reward = Reward.objects.get()
    assert reward.status == Reward.Status.PENDING
    deliveries_sweep(inline=True)
    reward.refresh_from_db()
    assert reward.status == Reward.Status.REVERSED
    refund.refresh_from_db()
    assert refund.status == Delivery.Status.PROCESSED and refund.waiting_for == ""


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_huge_body_is_refused_without_a_500(both, provider):
    from django.conf import settings

    size = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440) + 10
    body = b'{"id": "evt_big", "event_id": "evt_big", "pad": "' + b"x" * size + b'"}'
    response = _post(provider, body, _sign(provider, body))
    assert response.status_code in (400, 413), response.status_code
    assert Delivery.objects.count() == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_secret_is_in_no_log_line_nor_answer(both, provider, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    secret = STRIPE_SECRET if provider == "stripe" else PADDLE_SECRET
    body = json.dumps(_event(provider)).encode()
    answers = [
        _post(provider, body, _sign(provider, body)),
        _post(provider, body + b" ", _sign(provider, body)),
        _post(provider, body, "t=1,v1=00" if provider == "stripe" else "ts=1;h1=00"),
    ]
    for answer in answers:
        assert secret not in answer.content.decode()
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in json.dumps(record.__dict__, default=str)
