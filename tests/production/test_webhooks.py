"""Webhooks end to end: outbox in the change's transaction, signed delivery to a real HTTP server
on 127.0.0.1, retries with backoff, the delivery log and redelivery."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from config.platform.models import AuditEntry, WebhookDelivery, WebhookMessage
from config.platform.webhooks import delivery as webhook_delivery
from config.platform.webhooks import endpoints, services
from tests.production.conftest import wait_for_webhooks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_local_webhooks"),
]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "WEBHOOKS.md"


def docs_verifier():
    """The verification snippet from docs/WEBHOOKS.md, run as a receiver would run it."""
    found = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert found, "docs/WEBHOOKS.md lost its Python snippet"
    code = found.group(1)
    namespace: dict = {}
    exec(code, namespace)
    return namespace["verify_webhook"]


def make_endpoint(program, url, events=("reward.created",)):
    return endpoints.webhook_endpoint_create(
        program=program, url=url, events=list(events), actor="test"
    )


def emit(program, event_type="reward.created", payload=None):
    with transaction.atomic():
        services.webhook_emit(
            program=program, event_type=event_type, payload=payload or {"id": 1, "amount": 500}
        )
    wait_for_webhooks()


def test_outbox_row_exists_iff_the_change_commits(program, receiver):
    endpoint = make_endpoint(program, receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.webhook_emit(program=program, event_type="reward.created", payload={"id": 1})
        raise RuntimeError("the change fails after emitting")
    assert not WebhookMessage.objects.exists()
    assert receiver.requests == []

    emit(program, payload={"id": 2})
    message = WebhookMessage.objects.get()
    assert message.endpoint == endpoint and message.payload == {"id": 2}
    # Without a broker a daemon thread delivered it after commit.
    assert len(receiver.requests) == 1
    message.refresh_from_db()
    assert message.status == "delivered" and message.attempts == 1


def test_only_subscribed_active_endpoints_get_messages(program, receiver):
    make_endpoint(program, receiver.url, events=["reward.paid"])
    inactive = make_endpoint(program, receiver.url)
    endpoints.webhook_endpoint_update(endpoint=inactive, active=False, actor="test")
    emit(program)
    assert not WebhookMessage.objects.exists()
    services.webhook_emit(program=program, event_type="reward.paid", payload={"id": 3})
    assert WebhookMessage.objects.filter(event_type="reward.paid").count() == 1


def test_no_endpoint_means_nothing_happens(program):
    emit(program)
    assert not WebhookMessage.objects.exists()
    with pytest.raises(ValueError):
        services.webhook_emit(program=program, event_type="reward.unknown", payload={})


def test_signature_verifies_with_the_documented_snippet(program, receiver):
    endpoint = make_endpoint(program, receiver.url)
    emit(program, payload={"id": 7, "amount": 1234, "at": timezone.now()})
    request = receiver.requests[0]
    verify = docs_verifier()
    header = request.headers["Webhook-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(endpoint.secret, request.body.encode(), header) is True
    assert verify("whsec_wrong", request.body.encode(), header) is False
    assert verify(endpoint.secret, request.body.encode() + b" ", header) is False
    # An old timestamp is refused even with a valid MAC (replay protection).
    old = int(header.split(",")[0][2:]) - 3600
    stale = webhook_delivery.webhook_signature(
        secret=endpoint.secret, body=request.body, timestamp=old
    )
    assert verify(endpoint.secret, request.body.encode(), stale) is False
    body = receiver.json()
    assert body["type"] == "reward.created" and body["program"] == "acme"
    assert body["data"]["amount"] == 1234
    assert request.headers["Webhook-Id"] == body["id"]
    assert request.headers["Content-Type"] == "application/json"


def test_failures_retry_with_exponential_backoff_then_succeed(program, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 300
    assert [webhook_delivery.webhook_retry_delay(n).total_seconds() for n in range(1, 6)] == [
        60,
        120,
        240,
        300,
        300,
    ]
    make_endpoint(program, receiver.url)
    receiver.statuses = [500, 503]
    emit(program)
    message = WebhookMessage.objects.get()
    assert message.status == "pending" and message.attempts == 1
    first_retry = message.next_attempt_at
    assert first_retry is not None
    assert first_retry - timezone.now() > timedelta(seconds=55)

    # Not due yet: the sweep leaves it alone.
    assert webhook_delivery.webhook_deliver_due() == 0
    assert len(receiver.requests) == 1

    assert webhook_delivery.webhook_deliver_due(now=first_retry) == 1
    message.refresh_from_db()
    assert message.status == "pending" and message.attempts == 2
    assert message.next_attempt_at is not None
    assert message.next_attempt_at - first_retry >= timedelta(seconds=120)

    assert webhook_delivery.webhook_deliver_due(now=message.next_attempt_at) == 1
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None
    log = list(WebhookDelivery.objects.filter(message=message).order_by("attempt"))
    assert [(d.attempt, d.status_code, d.success) for d in log] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert log[2].response_excerpt == '{"received": 3}'
    # Every attempt sent the same event id and body.
    assert len({r.body for r in receiver.requests}) == 1


def test_gives_up_after_max_attempts_and_redeliver_sends_again(program, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    endpoint = make_endpoint(program, receiver.url)
    receiver.statuses = [500, 500]
    emit(program)
    message = WebhookMessage.objects.get()
    assert message.next_attempt_at is not None
    webhook_delivery.webhook_deliver_due(now=message.next_attempt_at + timedelta(days=1))
    message.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at is None
    assert webhook_delivery.webhook_deliver_due(now=timezone.now() + timedelta(days=30)) == 0

    services.webhook_redeliver(message=message, actor="user:ops", reason="receiver fixed")
    wait_for_webhooks()
    message.refresh_from_db()
    assert message.status == "delivered" and message.attempts == 1
    assert len(receiver.requests) == 3
    assert receiver.json(0)["id"] == receiver.json(2)["id"]
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 3
    entry = AuditEntry.objects.get(action="webhook_message.redelivered")
    assert entry.actor == "user:ops" and entry.before == {"status": "failed", "attempts": 2}


def test_delivery_without_a_broker_does_not_hold_up_the_caller(program, receiver, settings):
    settings.WEBHOOK_INLINE_TIMEOUT_SECONDS = 30
    make_endpoint(program, receiver.url)
    receiver.hold = True  # the receiver answers only once released
    with transaction.atomic():
        services.webhook_emit(program=program, event_type="reward.created", payload={"id": 1})
    # The caller is back while the receiver still holds the request: nothing is logged yet.
    assert not WebhookDelivery.objects.exists()
    assert WebhookMessage.objects.get().status == "pending"
    receiver.release.set()
    wait_for_webhooks()
    assert WebhookMessage.objects.get().status == "delivered"
    assert len(receiver.requests) == 1


def test_unreachable_endpoint_logs_the_error(program):
    make_endpoint(program, "http://127.0.0.1:1/hooks")  # nothing listens on port 1
    emit(program)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status_code is None and not delivery.success
    assert "ConnectError" in delivery.error
    assert WebhookMessage.objects.get().status == "pending"


def test_slow_receiver_times_out_and_is_retried(program, receiver, settings):
    settings.WEBHOOK_INLINE_TIMEOUT_SECONDS = 0.5
    make_endpoint(program, receiver.url)
    receiver.hold = True
    emit(program)  # returns once the delivery thread has given up
    receiver.release.set()
    delivery = WebhookDelivery.objects.get()
    assert "Timeout" in delivery.error
    assert WebhookMessage.objects.get().status == "pending"


def test_private_addresses_are_refused_unless_allowed(program, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    make_endpoint(program, receiver.url)
    emit(program)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    # The delivery log (shown to API clients) names no address; the server log does.
    assert delivery.error == f"DestinationRefused: {webhook_delivery.UNREACHABLE}"


def test_delivery_connects_to_the_checked_address_not_a_rebound_one(program, settings, monkeypatch):
    # DNS rebinding: the name answers a public address to the check, then loopback to anyone
    # resolving it again (as a connection would).
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    real_client = httpx.Client
    monkeypatch.setattr(webhook_delivery.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(
        webhook_delivery.httpx,
        "Client",
        lambda **kwargs: real_client(transport=httpx.MockTransport(handler), **kwargs),
    )
    make_endpoint(program, "https://rebind.example:8443/hooks")
    emit(program)
    assert WebhookDelivery.objects.get().success
    [request] = sent
    assert str(request.url) == "https://93.184.216.34:8443/hooks"
    assert request.headers["Host"] == "rebind.example:8443"
    assert request.extensions["sni_hostname"] == "rebind.example"


def test_a_leased_message_is_not_sent_twice(program, receiver):
    make_endpoint(program, receiver.url)
    receiver.statuses = [500]
    emit(program)
    message = WebhookMessage.objects.get()
    due = message.next_attempt_at
    assert due is not None
    # Two sweeps racing for the same due message: the first takes the lease, the second finds
    # nothing due.
    assert webhook_delivery._claim(message.pk, now=due, timeout=5)
    assert webhook_delivery.webhook_deliver_due(now=due) == 0
    assert len(receiver.requests) == 1


def test_endpoint_secret_rotation_and_delete_are_audited(program, receiver):
    endpoint = make_endpoint(program, receiver.url)
    old = endpoint.secret
    rotated = endpoints.webhook_endpoint_update(endpoint=endpoint, rotate_secret=True, actor="t")
    assert rotated.secret.startswith("whsec_") and rotated.secret != old
    emit(program)
    endpoints.webhook_endpoint_delete(endpoint=rotated, actor="t")
    assert not WebhookMessage.objects.exists() and not WebhookDelivery.objects.exists()
    actions = list(
        AuditEntry.objects.filter(object_type="webhook_endpoint")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
    ]
    assert not any(
        old in str(e.after) or rotated.secret in str(e.after) for e in AuditEntry.objects.all()
    )


def test_with_a_broker_the_message_goes_to_celery(program, receiver, settings, monkeypatch):
    from config.platform.webhooks import tasks

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    queued: list[list[str]] = []
    monkeypatch.setattr(tasks.webhook_deliver_messages, "delay", queued.append)
    make_endpoint(program, receiver.url)
    emit(program)
    message = WebhookMessage.objects.get()
    assert queued == [[str(message.pk)]] and receiver.requests == []
    tasks.webhook_deliver_messages(queued[0])  # what the worker runs
    assert len(receiver.requests) == 1


def test_deliver_webhooks_command_sends_due_messages(program, receiver):
    from django.core.management import call_command

    make_endpoint(program, receiver.url)
    receiver.statuses = [500]
    emit(program)
    WebhookMessage.objects.update(next_attempt_at=timezone.now())
    call_command("deliver_webhooks")
    assert WebhookMessage.objects.get().status == "delivered"


# --- API --------------------------------------------------------------------------------------


def test_endpoint_api_crud_and_delivery_log(api, url, program, receiver):
    r = api.post(
        url("webhook-endpoints"),
        {"url": receiver.url, "events": ["reward.created", "reward.paid"]},
        format="json",
    )
    assert r.status_code == 201, r.json()
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["active"] is True
    pk = created["id"]
    r = api.get(url(f"webhook-endpoints/{pk}"))
    assert r.status_code == 200 and "secret" not in r.json()
    assert r.json()["events"] == ["reward.created", "reward.paid"]
    listed = api.get(url("webhook-endpoints")).json()["results"]
    assert [e["id"] for e in listed] == [pk] and "secret" not in listed[0]

    r = api.patch(url(f"webhook-endpoints/{pk}"), {"description": "crm"}, format="json")
    assert r.status_code == 200 and r.json()["description"] == "crm" and "secret" not in r.json()
    r = api.patch(url(f"webhook-endpoints/{pk}"), {"rotate_secret": True}, format="json")
    assert r.json()["secret"] != created["secret"]

    emit(program)
    deliveries = api.get(url(f"webhook-endpoints/{pk}/deliveries")).json()["results"]
    assert len(deliveries) == 1
    assert deliveries[0]["status_code"] == 200 and deliveries[0]["event_type"] == "reward.created"
    messages = api.get(url(f"webhook-endpoints/{pk}/messages")).json()["results"]
    assert messages[0]["status"] == "delivered"
    r = api.post(
        url(f"webhook-endpoints/{pk}/messages/{messages[0]['id']}/redeliver"), {}, format="json"
    )
    assert r.status_code == 202
    wait_for_webhooks()
    assert len(receiver.requests) == 2

    assert api.delete(url(f"webhook-endpoints/{pk}")).status_code == 204
    r = api.get(url(f"webhook-endpoints/{pk}"))
    assert r.status_code == 404 and r["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "ftp://example.com/x", "events": ["reward.created"]}, "url"),
        ({"url": "not a url", "events": ["reward.created"]}, "url"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": ["reward.nope"]}, "events.0"),
        ({"url": "https://example.com/x", "events": "reward.created"}, "events"),
        ({"url": "https://example.com/x", "events": ["reward.paid"], "secret": "x"}, "secret"),
        ({"events": ["reward.paid"]}, "url"),
    ],
)
def test_bad_endpoint_input_is_400_and_changes_nothing(api, url, body, field):
    r = api.post(url("webhook-endpoints"), body, format="json")
    assert r.status_code == 400, r.json()
    assert r.json()["code"] == "validation_error"
    assert field in {e["field"] for e in r.json()["errors"]}
    assert not AuditEntry.objects.filter(object_type="webhook_endpoint").exists()


def test_garbage_ids_are_404(api, url):
    assert api.get(url("webhook-endpoints/abc")).status_code == 404
    assert api.get(url("webhook-endpoints/999999/deliveries")).status_code == 404


def test_reward_lifecycle_emits_its_events_only_when_committed(program, receiver):
    from rules.rewards.services.rewards import reward_confirm, reward_create, reward_reverse

    make_endpoint(
        program, receiver.url, events=["reward.created", "reward.confirmed", "reward.reversed"]
    )
    reward, _ = reward_create(
        program=program,
        beneficiary="alice",
        amount=500,
        currency="INR",
        reward_type="cash",
        actor="test",
    )
    wait_for_webhooks()  # several pool threads: waiting keeps the events in order here
    reward_confirm(reward=reward, actor="test")
    wait_for_webhooks()
    reward_reverse(reward=reward, reason="fraud", actor="test")
    wait_for_webhooks()
    bodies = [receiver.json(i) for i in range(len(receiver.requests))]
    assert [b["type"] for b in bodies] == ["reward.created", "reward.confirmed", "reward.reversed"]
    assert {b["data"]["id"] for b in bodies} == {reward.pk}
    assert [b["data"]["status"] for b in bodies] == ["pending", "confirmed", "reversed"]

    with pytest.raises(RuntimeError), transaction.atomic():
        reward_create(
            program=program,
            beneficiary="bob",
            amount=700,
            currency="INR",
            reward_type="cash",
            actor="test",
        )
        raise RuntimeError("the caller's transaction fails after the reward was created")
    wait_for_webhooks()
    assert WebhookMessage.objects.count() == 3 and len(receiver.requests) == 3
