"""Webhooks in the admin: creating an endpoint goes through the service (audited, secret shown
once), and the "Redeliver" action sends a message again."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.urls import reverse

from config.platform.models import AuditEntry, WebhookEndpoint, WebhookMessage
from config.platform.webhooks import endpoints, services
from tests.production.conftest import wait_for_webhooks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_local_webhooks"),
]


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_create_endpoint_in_admin_shows_the_secret_once(admin_client, program, receiver):
    r = admin_client.post(
        reverse("admin:ledger_webhookendpoint_add"),
        {
            "program": program.pk,
            "url": receiver.url,
            "events": ["reward.created", "payout.executed"],
            "description": "crm",
            "active": "on",
        },
        follow=True,
    )
    assert r.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["reward.created", "payout.executed"]
    shown = [str(m) for m in r.context["messages"]]
    assert any(endpoint.secret in m for m in shown)
    entry = AuditEntry.objects.get(action="webhook_endpoint.created")
    assert entry.actor == "user:root"
    page = admin_client.get(reverse("admin:ledger_webhookendpoint_change", args=[endpoint.pk]))
    assert endpoint.secret not in page.content.decode()


def test_redeliver_action(admin_client, program, receiver):
    endpoints.webhook_endpoint_create(
        program=program, url=receiver.url, events=["reward.paid"], actor="t"
    )
    services.webhook_emit(program=program, event_type="reward.paid", payload={"id": 1})
    wait_for_webhooks()
    message = WebhookMessage.objects.get()
    assert len(receiver.requests) == 1
    r = admin_client.post(
        reverse("admin:ledger_webhookmessage_changelist"),
        {"action": "redeliver", ACTION_CHECKBOX_NAME: [str(message.pk)]},
        follow=True,
    )
    assert r.status_code == 200
    assert [str(m) for m in r.context["messages"]] == [
        f"Requeued webhook message {message.pk} (reward.paid to {receiver.url})."
    ]
    wait_for_webhooks()
    assert len(receiver.requests) == 2
    assert AuditEntry.objects.get(action="webhook_message.redelivered").actor == "user:root"
    page = admin_client.get(reverse("admin:ledger_webhookmessage_change", args=[message.pk]))
    assert page.status_code == 200 and "200" in page.content.decode()
