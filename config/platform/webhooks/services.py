"""Webhooks: endpoints, the outbox and signed delivery (docs/WEBHOOKS.md).

`webhook_emit` runs inside the caller's database transaction and only inserts rows, so the
message exists exactly when the change does. Delivery happens after commit: on a Celery worker
when a broker is configured, otherwise on the web process's small delivery pool with a short
timeout. A failed attempt schedules
the next one with exponential backoff; `webhook_deliver_due` (beat, or `manage.py
deliver_webhooks`) sends whatever is due. Delivery is at least once: receivers deduplicate on
the event id.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import NotFound, ValidationFailed
from config.platform.models import Program
from config.platform.webhooks.models import (
    EVENT_TYPES,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Webhook-Signature"
USER_AGENT = "ReferralLedger-Webhooks/1"
EXCERPT_CHARS = 500

Status = WebhookMessage.Status


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- signing ----------------------------------------------------------------------------------


def webhook_secret_generate() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def webhook_signature(*, secret: str, body: str, timestamp: int) -> str:
    """The `Webhook-Signature` header value: HMAC-SHA256 over "{timestamp}.{body}". The
    timestamp is signed too, so a captured request cannot be replayed later with a new one."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def webhook_body(message: WebhookMessage) -> str:
    """The request body; the same bytes on every attempt of a message."""
    return json.dumps(
        {
            "id": str(message.event_id),
            "type": message.event_type,
            "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
            "program": message.program.slug,
            "data": message.payload,
        },
        separators=(",", ":"),
        sort_keys=True,
        cls=DjangoJSONEncoder,
    )


def webhook_retry_delay(attempt: int) -> timedelta:
    """Delay before the attempt after `attempt` failed ones: base · 2^(attempt-1), capped."""
    base = _setting("WEBHOOK_RETRY_BASE_SECONDS", 60)
    cap = _setting("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 6 * 3600)
    return timedelta(seconds=min(base * 2 ** max(attempt - 1, 0), cap))


# --- endpoints --------------------------------------------------------------------------------

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
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown event type(s): {', '.join(map(str, unknown))}. "
            f"Known: {', '.join(EVENT_TYPES)}.",
            errors=[{"field": "events", "message": f"unknown event type {e}"} for e in unknown],
        )
    return [e for e in EVENT_TYPES if e in events]  # canonical order, no duplicates


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


def webhook_endpoint_get(*, program: Program, endpoint_id: Any) -> WebhookEndpoint:
    try:
        pk = int(str(endpoint_id))
    except ValueError:
        raise NotFound(f"No webhook endpoint {endpoint_id}.") from None
    endpoint = WebhookEndpoint.objects.filter(program=program, pk=pk).first()
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


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
        _allow_message_delete(f"endpoint:{endpoint.pk}", endpoint=endpoint)
        WebhookDelivery.objects.filter(endpoint=endpoint).delete()
        WebhookMessage.objects.filter(endpoint=endpoint).delete()
        endpoint.delete()


# --- the outbox -------------------------------------------------------------------------------


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def webhook_emit(*, program: Program, event_type: str, payload: dict[str, Any]) -> None:
    """Write one outbox message per subscribed active endpoint in the current database
    transaction and hand them to delivery after commit. Does nothing without endpoints."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    # Few endpoints per program: filtering the subscription list here works on every database.
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(program=program, active=True)
        if event_type in e.events
    ]
    if not endpoints:
        return
    now = timezone.now()
    event_id = uuid.uuid4()
    data = _jsonable(payload)
    messages = WebhookMessage.objects.bulk_create(
        WebhookMessage(
            program=program,
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=data,
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint in endpoints
    )
    webhook_dispatch_on_commit([m.pk for m in messages])


def webhook_emit_sql(
    *, source: str, program: Program, event_type: str, payload_sql: str
) -> tuple[str, list[Any]]:
    """`webhook_emit` as the body of a CTE, for an event written by one SQL statement
    (PostgreSQL): `INSERT ... SELECT` of one outbox row per subscribed active endpoint for the
    one row of `source`, whose event data is the jsonb expression `payload_sql`. A program
    without endpoints costs an index probe, not a round trip. It returns the message ids: hand
    them to `webhook_dispatch_on_commit`. Returns (sql, params)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event_type!r}")
    sql = (
        "INSERT INTO ledger_webhookmessage (id, program_id, endpoint_id, event_id, event_type,"
        f" payload, status, attempts, next_attempt_at, created_at) SELECT gen_random_uuid(),"
        f" e.program_id, e.id, ev.id, ev.type, {payload_sql}, '{Status.PENDING.value}', 0,"
        f" ev.at, ev.at FROM {source} CROSS JOIN (SELECT %s::uuid AS id, %s::text AS type,"
        " %s::timestamptz AS at) ev JOIN ledger_webhookendpoint e ON e.program_id = %s"
        " AND e.active AND e.events @> jsonb_build_array(ev.type) RETURNING id"
    )
    return sql, [uuid.uuid4(), event_type, timezone.now(), program.pk]


def webhook_dispatch_on_commit(message_ids: list[uuid.UUID]) -> None:
    """Hand written outbox messages to delivery once the current transaction commits."""
    if message_ids:
        transaction.on_commit(lambda: _dispatch(list(message_ids)))


def _dispatch(message_ids: list[uuid.UUID]) -> None:
    """After commit. Never raises: the change is committed, and a message that could not be
    handed off stays due for the sweep."""
    from config.platform.webhooks import tasks

    try:
        tasks.webhook_messages_dispatch(message_ids)
    except Exception:
        logger.exception("Could not hand off webhook messages; the sweep will deliver them")


# --- delivery ---------------------------------------------------------------------------------


class DestinationRefused(Exception):
    """The address check refused the URL. `public` is what API clients see in the delivery log:
    a name that does not resolve and one that resolves to a private address look the same, so
    the log cannot be used to map the server's internal network."""

    def __init__(self, detail: str, *, public: str = "") -> None:
        super().__init__(detail)
        self.public = public or detail


UNREACHABLE = "could not connect (the host name does not resolve to a public address)"


def _public_error(exc: Exception, *, timeout: float) -> str:
    """The delivery log's text for a failed attempt, shown to API clients: the kind of failure,
    never the server's name resolution, addresses or the URL's credentials (those go to the
    server log only)."""
    if isinstance(exc, DestinationRefused):
        return f"DestinationRefused: {exc.public}"
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"{name}: no answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"{name}: could not connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return f"{name}: the connection failed"
    return f"{name}: the request failed"


def _scrub(text: str, url: str) -> str:
    """`text` without the URL's credentials, for the server log."""
    userinfo = urlsplit(url).netloc.rpartition("@")[0]
    password = userinfo.partition(":")[2]
    for secret in (userinfo, password):
        if secret:
            text = text.replace(secret, "***")
    return text


def _check_destination(url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Refuse loopback, private and link-local destinations unless allowed: an endpoint URL is
    user input, and the server must not become a way into its own network. Returns the URL to
    send to, extra headers and httpx extensions: the URL names the checked address, because a
    second lookup at connect time could answer differently (DNS rebinding), while the Host
    header and TLS (SNI and certificate check) keep the real hostname."""
    if _setting("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False):
        return url, {}, {}
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DestinationRefused(f"cannot resolve {host}: {exc}", public=UNREACHABLE) from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise DestinationRefused(f"cannot resolve {host}", public=UNREACHABLE)
    for address in addresses:
        if not address.is_global:
            raise DestinationRefused(
                f"{host} resolves to the non-public address {address} "
                "(set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow it)",
                public=UNREACHABLE,
            )
    userinfo, _, host_port = parts.netloc.rpartition("@")
    literal = f"[{addresses[0]}]" if addresses[0].version == 6 else str(addresses[0])
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"Host": host_port}, extensions


def _claim(message_id: uuid.UUID, *, now: datetime, timeout: float) -> bool:
    """Take a due message for one attempt by moving its next attempt past the attempt's end (a
    lease), so a concurrent sweep or task does not send it at the same time; a process that dies
    mid-attempt leaves it due again when the lease expires."""
    lease = now + timedelta(seconds=timeout + 30)
    return bool(
        WebhookMessage.objects.filter(
            pk=message_id, status=Status.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=lease)
    )


def webhook_deliver(
    message: WebhookMessage, *, timeout: float | None = None, now: datetime | None = None
) -> WebhookDelivery | None:
    """Send a due message once, log the attempt and schedule the next one on failure. Returns
    the delivery row, or None when the message was not due (delivered, given up, leased)."""
    now = now or timezone.now()
    timeout = timeout or _setting("WEBHOOK_TIMEOUT_SECONDS", 10)
    if not _claim(message.pk, now=now, timeout=timeout):
        return None
    message = WebhookMessage.objects.select_related("endpoint", "program").get(pk=message.pk)
    endpoint = message.endpoint
    body = webhook_body(message)
    status_code: int | None = None
    excerpt = error = detail = ""
    started = time.monotonic()
    try:
        if not endpoint.active:
            raise DestinationRefused("endpoint is disabled")
        target, pinned_headers, extensions = _check_destination(endpoint.url)
        timestamp = int(time.time())
        # httpx.post takes no request extensions (the TLS hostname), a client's post does
        with httpx.Client() as client:
            response = client.post(
                target,
                content=body.encode(),
                headers={
                    **pinned_headers,
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "Webhook-Id": str(message.event_id),
                    "Webhook-Event": message.event_type,
                    SIGNATURE_HEADER: webhook_signature(
                        secret=endpoint.secret, body=body, timestamp=timestamp
                    ),
                },
                timeout=timeout,
                follow_redirects=False,  # a redirect could lead anywhere, past the address check
                extensions=extensions,
            )
        status_code = response.status_code
        excerpt = response.text[:EXCERPT_CHARS]
    except (httpx.HTTPError, DestinationRefused) as exc:
        error = _public_error(exc, timeout=timeout)[:1000]
        detail = _scrub(f"{type(exc).__name__}: {exc}", endpoint.url)
    duration_ms = int((time.monotonic() - started) * 1000)
    success = status_code is not None and 200 <= status_code < 300
    attempts = message.attempts + 1
    finished = now + timedelta(milliseconds=duration_ms)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            message=message,
            endpoint=endpoint,
            attempt=WebhookDelivery.objects.filter(message=message).count() + 1,
            at=now,
            status_code=status_code,
            response_excerpt=excerpt,
            error=error,
            duration_ms=duration_ms,
            success=success,
        )
        update: dict[str, Any] = {"attempts": attempts}
        if success:
            update |= {
                "status": Status.DELIVERED,
                "delivered_at": finished,
                "next_attempt_at": None,
            }
        elif attempts >= _setting("WEBHOOK_MAX_ATTEMPTS", 15):
            update |= {"status": Status.FAILED, "next_attempt_at": None}
        else:
            update["next_attempt_at"] = finished + webhook_retry_delay(attempts)
        WebhookMessage.objects.filter(pk=message.pk).update(**update)
    log = logger.info if success else logger.warning
    log(
        "webhook %s %s to %s: %s",
        message.event_type,
        message.event_id,
        webhook_url_masked(endpoint.url),
        status_code or detail,
        extra={"webhook_message": str(message.pk), "attempt": delivery.attempt},
    )
    return delivery


def webhook_due_ids(*, now: datetime | None = None, limit: int = 100) -> list[uuid.UUID]:
    now = now or timezone.now()
    return list(
        WebhookMessage.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def webhook_deliver_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Attempt every due message (oldest first, at most `limit`); returns how many were sent
    (successfully or not)."""
    return webhook_deliver_many(webhook_due_ids(now=now, limit=limit), now=now)


def webhook_deliver_many(
    message_ids: Iterable[uuid.UUID], *, timeout: float | None = None, now: datetime | None = None
) -> int:
    sent = 0
    for message in WebhookMessage.objects.filter(pk__in=list(message_ids)):
        if webhook_deliver(message, timeout=timeout, now=now) is not None:
            sent += 1
    return sent


def webhook_message_get(*, endpoint: WebhookEndpoint, message_id: Any) -> WebhookMessage:
    try:
        pk = uuid.UUID(str(message_id))
    except ValueError:
        raise NotFound(f"No webhook message {message_id}.") from None
    message = WebhookMessage.objects.filter(endpoint=endpoint, pk=pk).first()
    if message is None:
        raise NotFound(f"No webhook message {message_id}.")
    return message


def webhook_redeliver(*, message: WebhookMessage, actor: str, reason: str = "") -> WebhookMessage:
    """Send a message again (delivered or given up): it becomes due now with a fresh retry
    budget. Receivers see the same event id and deduplicate."""
    with transaction.atomic():
        locked = WebhookMessage.objects.select_for_update().get(pk=message.pk)
        before = {"status": locked.status, "attempts": locked.attempts}
        locked.status = Status.PENDING
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_record(
            program=locked.program,
            actor=actor,
            action="webhook_message.redelivered",
            object_type="webhook_message",
            object_id=locked.pk,
            before=before,
            after={"status": locked.status},
            reason=reason,
        )
        ids = [locked.pk]
        transaction.on_commit(lambda: _dispatch(ids))
    return locked


# --- retention ------------------------------------------------------------------------------

# Delivered messages are kept this many days (setting WEBHOOK_RETENTION_DAYS), then removed by
# `webhook_messages_purge` (`manage.py purge_webhook_messages`, run daily from cron).
WEBHOOK_RETENTION_DAYS = 90


def _allow_message_delete(scope: str, *, endpoint: WebhookEndpoint | None = None) -> None:
    """The database refuses to delete webhook messages (migration 0010) except for the two
    documented paths, which say so for their own database transaction: the retention job
    (`retention:<cutoff>`: delivered messages delivered before the cutoff) and an endpoint's
    deletion (`endpoint:<id>`). SQLite cannot read the setting; there an endpoint is
    deactivated first, and its trigger lets an inactive endpoint's messages go."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('ledger.webhook_delete', %s, true)", [scope])
    elif endpoint is not None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)


def webhook_messages_purge(
    *, now: datetime | None = None, older_than_days: int | None = None, actor: str = "system"
) -> int:
    """Delete delivered webhook messages (and their delivery logs) delivered more than
    `older_than_days` (default: the WEBHOOK_RETENTION_DAYS setting, 90) ago. Pending and failed
    messages are never purged. Returns how many messages went; audited when any did."""
    days = older_than_days
    if days is None:
        days = int(_setting("WEBHOOK_RETENTION_DAYS", WEBHOOK_RETENTION_DAYS))
    if days < 1:
        raise ValidationFailed("Webhook messages are kept at least one day.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    with transaction.atomic():
        _allow_message_delete(f"retention:{cutoff.isoformat()}")
        old = WebhookMessage.objects.filter(status=Status.DELIVERED, delivered_at__lt=cutoff)
        WebhookDelivery.objects.filter(message__in=old).delete()
        _, deleted = old.delete()
        purged = deleted.get(WebhookMessage._meta.label, 0)
        if purged:
            audit_record(
                program=None,
                actor=actor,
                action="webhook_messages.purged",
                object_type="webhook_message",
                object_id="retention",
                after={"deleted": purged, "delivered_before": cutoff.isoformat(), "days": days},
            )
    return purged
