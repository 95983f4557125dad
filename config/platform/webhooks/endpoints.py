"""Webhook endpoints: register, change, rotate the secret, remove (each audited)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program, WebhookDelivery, WebhookEndpoint, WebhookMessage
from config.platform.webhooks.events import webhook_event_types
from config.platform.webhooks.retention import allow_message_delete


def webhook_secret_generate() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


_url_validator = URLValidator(schemes=["http", "https"])


def _clean_url(url: Any) -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise ValidationFailed(
            "url must be an http(s) URL of at most 2000 characters.",
            errors=[{"field": "url", "message": "invalid URL"}],
        )
    try:
        _url_validator(url)
    except ValidationError:
        raise ValidationFailed(
            f"url must be an absolute http(s) URL, not {url!r}.",
            errors=[{"field": "url", "message": "invalid URL"}],
        ) from None
    return url


def _clean_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationFailed(
            "events must be a non-empty list of event types.",
            errors=[{"field": "events", "message": "a non-empty list is required"}],
        )
    known = webhook_event_types()
    unknown = [e for e in events if e not in known]
    if unknown:
        raise ValidationFailed(
            f"Unknown event type(s): {', '.join(map(str, unknown))}. Known: {', '.join(known)}.",
            errors=[{"field": "events", "message": f"unknown event type {e}"} for e in unknown],
        )
    return [e for e in known if e in events]  # canonical order, no duplicates


def webhook_url_masked(url: str) -> str:
    """The URL as logs and the audit log show it: credentials in it (`https://user:pass@host/`)
    become `***`, so a receiver's password never reaches a log line."""
    parts = urlsplit(url)
    _userinfo, at, host_port = parts.netloc.rpartition("@")
    if not at:
        return url
    return parts._replace(netloc=f"***@{host_port}").geturl()


def _endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": webhook_url_masked(endpoint.url),
        "events": endpoint.events,
        "description": endpoint.description,
        "active": endpoint.active,
    }


def webhook_endpoint_create(
    *,
    program: Program,
    url: str,
    events: list[str],
    description: str = "",
    active: bool = True,
    actor: str,
) -> WebhookEndpoint:
    """Register an endpoint with a new secret (read it from the returned object: it is shown
    once)."""
    endpoint = WebhookEndpoint(
        program=program,
        url=_clean_url(url),
        events=_clean_events(events),
        description=description[:200],
        active=active,
        secret=webhook_secret_generate(),
    )
    with transaction.atomic():
        endpoint.save()
        audit_record(
            program=program,
            actor=actor,
            action="webhook_endpoint.created",
            object_type="webhook_endpoint",
            object_id=endpoint.pk,
            after=_endpoint_view(endpoint),
        )
    return endpoint


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: str,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
    rotate_secret: bool = False,
) -> WebhookEndpoint:
    """Change the given fields. `rotate_secret` makes a new secret (returned once, on the object);
    messages already signed keep verifying against the old one only."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = _clean_url(url)
    if events is not None:
        changes["events"] = _clean_events(events)
    if description is not None:
        changes["description"] = description[:200]
    if active is not None:
        changes["active"] = active
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _endpoint_view(locked)
        for field, value in changes.items():
            setattr(locked, field, value)
        if rotate_secret:
            locked.secret = webhook_secret_generate()
        locked.updated_at = timezone.now()
        locked.save()
        after = _endpoint_view(locked)
        if rotate_secret:
            after["secret_rotated"] = True
        audit_record(
            program=locked.program,
            actor=actor,
            action="webhook_endpoint.updated",
            object_type="webhook_endpoint",
            object_id=locked.pk,
            before=before,
            after=after,
        )
    return locked


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: str) -> None:
    """Remove an endpoint with its messages and delivery log (the audit log keeps the record)."""
    with transaction.atomic():
        audit_record(
            program=endpoint.program,
            actor=actor,
            action="webhook_endpoint.deleted",
            object_type="webhook_endpoint",
            object_id=endpoint.pk,
            before=_endpoint_view(endpoint),
        )
        allow_message_delete(f"endpoint:{endpoint.pk}", endpoint=endpoint)
        WebhookDelivery.objects.filter(endpoint=endpoint).delete()
        WebhookMessage.objects.filter(endpoint=endpoint).delete()
        endpoint.delete()
