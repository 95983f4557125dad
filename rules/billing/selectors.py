"""Reads of the billing connector, shared by the API, the receiver and the admin."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from config.platform.exceptions import NotFound
from config.platform.models import Program
from rules.billing.models import Delivery, Integration, PaymentRef
from rules.billing.providers import provider_get, provider_names

# A delivery is handed off on commit; only one older than this needs the sweep.
HANDOFF_GRACE = timedelta(minutes=1)


def provider_require(name: str):
    provider = provider_get(name)
    if provider is None:
        raise NotFound(f"No billing provider {name!r}; one of: {', '.join(provider_names())}.")
    return provider


def integration_get(*, program: Program, provider: str) -> Integration:
    provider_require(provider)
    integration = Integration.objects.filter(program=program, provider=provider).first()
    if integration is None:
        raise NotFound(f"No {provider} integration is configured for this program.")
    return integration


def integration_for_hook(*, program_slug: str, provider: str) -> Integration | None:
    """The active integration a public hook URL names (None: answer 404, store nothing)."""
    return (
        Integration.objects.filter(program__slug=program_slug, provider=provider, active=True)
        .select_related("program")
        .first()
    )


def delivery_list(
    *, program: Program | None = None, status: str = "", provider: str = ""
) -> QuerySet[Delivery]:
    qs = Delivery.objects.all()
    if program is not None:
        qs = qs.filter(program=program)
    if status:
        qs = qs.filter(status=status)
    if provider:
        qs = qs.filter(provider=provider)
    return qs.order_by("-received_at", "-id")


def deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Received deliveries whose hand-off was lost or whose retry time has come, and refunds
    still waiting for a payment that has arrived: the payment wakes them, but a refund
    processed concurrently with its payment commits `waiting_for` after the payment looked for
    it (processing twice is harmless: a delivery is processed under its row lock, once)."""
    now = now or timezone.now()
    arrived = Exists(
        PaymentRef.objects.filter(
            program=OuterRef("program"), provider=OuterRef("provider"), ref=OuterRef("waiting_for")
        )
    )
    due = Delivery.objects.filter(status=Delivery.Status.RECEIVED).filter(
        Q(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, received_at__lt=now - HANDOFF_GRACE),
            waiting_for="",
        )
        | Q(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), arrived)
    )
    return list(due.order_by("received_at", "id").values_list("pk", flat=True)[:limit])
