"""Reused reads of webhooks: a program's endpoints, an endpoint's messages and delivery log."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from config.platform.exceptions import NotFound
from config.platform.models import Program, WebhookDelivery, WebhookEndpoint, WebhookMessage


def webhook_endpoint_list(*, program: Program) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(program=program)


def webhook_endpoint_get(*, program: Program, pk: Any) -> WebhookEndpoint:
    """The program's endpoint; 404 `not_found` for an id that is not a number or not its."""
    try:
        endpoint_id = int(str(pk))
    except ValueError:
        raise NotFound(f"No webhook endpoint {pk}.") from None
    endpoint = WebhookEndpoint.objects.filter(program=program, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {pk}.")
    return endpoint


def webhook_message_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookMessage]:
    return WebhookMessage.objects.filter(endpoint=endpoint)


def webhook_message_get(*, endpoint: WebhookEndpoint, pk: Any) -> WebhookMessage:
    """The endpoint's message; 404 `not_found` for an id that is not a UUID or not its."""
    try:
        message_id = uuid.UUID(str(pk))
    except ValueError:
        raise NotFound(f"No webhook message {pk}.") from None
    message = WebhookMessage.objects.filter(endpoint=endpoint, pk=message_id).first()
    if message is None:
        raise NotFound(f"No webhook message {pk}.")
    return message


def webhook_delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery attempts, each with its message."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("message")
