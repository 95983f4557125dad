"""Webhook delivery: the signed request, the destination check, one attempt of a due message
and the sweep of due messages (docs/WEBHOOKS.md). A failed attempt schedules the next one with
exponential backoff; `webhook_deliver_due` (beat, or `manage.py deliver_webhooks`) sends whatever
is due. Delivery is at least once: receivers deduplicate on the event id."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from config.platform.models import WebhookDelivery, WebhookMessage
from config.platform.webhooks.endpoints import webhook_url_masked

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Webhook-Signature"
USER_AGENT = "ReferralLedger-Webhooks/1"
EXCERPT_CHARS = 500

Status = WebhookMessage.Status


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- signing ----------------------------------------------------------------------------------


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
