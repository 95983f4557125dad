"""The public receiver's service: verify, store, hand off (SPEC section 13).

Nothing is written for a delivery whose signature fails. A verified delivery is stored once per
provider event id (a redelivery, concurrent or not, finds the stored row and changes nothing)
and processed after commit, so the provider gets its 200 without waiting for the rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.platform.exceptions import NotFound, ValidationFailed
from rules.billing.models import Delivery
from rules.billing.providers import SignatureInvalid
from rules.billing.providers.base import storable
from rules.billing.selectors import integration_for_hook, provider_require
from rules.billing.services.handoff import delivery_handoff_on_commit
from rules.billing.services.integrations import integration_secret

# With a broker, a delivery is stored already marked as handed off: the sweep waits this long
# for a worker before handing it off again (a lost message).
HANDOFF_LEASE = timedelta(minutes=5)


class SignatureRefused(ValidationFailed):
    title = "Signature verification failed"


def delivery_receive(
    *, provider: str, program_slug: str, body: bytes, headers: Mapping[str, str]
) -> tuple[Delivery, bool]:
    """Verify and store one webhook delivery; returns (delivery, created). Unknown provider
    or program, or no active integration: NotFound. A bad, stale or foreign signature:
    SignatureRefused (400). Either way nothing is written."""
    spec = provider_require(provider)
    integration = integration_for_hook(program_slug=program_slug, provider=provider)
    if integration is None:
        raise NotFound("No such billing endpoint.")
    try:
        event = spec.verify(body, headers, integration_secret(integration))
    except SignatureInvalid as exc:
        raise SignatureRefused(
            f"The {spec.signature_header} header does not verify: {exc}",
            errors=[{"field": spec.signature_header, "message": str(exc)}],
        ) from exc
    event_id = spec.event_id(event)
    if not event_id or len(event_id) > 255:
        raise ValidationFailed("The event has no usable id.")
    program = integration.program
    # Headers outside the signature (User-Agent) are kept only as text the database stores.
    kept = {
        name: headers[name]
        for name in spec.kept_headers
        if headers.get(name) and storable(headers[name])
    }
    existing = Delivery.objects.filter(
        program=program, provider=provider, provider_event_id=event_id
    ).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                program=program,
                provider=provider,
                provider_event_id=event_id,
                event_type=spec.event_type(event)[:100],
                body=body.decode("utf-8"),
                headers=kept,
                next_attempt_at=(
                    timezone.now() + HANDOFF_LEASE if settings.CELERY_BROKER_URL else None
                ),
            )
            delivery_handoff_on_commit(delivery.pk)
    except IntegrityError:
        # The same event id arrived concurrently: the other request stored it.
        existing = Delivery.objects.filter(
            program=program, provider=provider, provider_event_id=event_id
        ).first()
        if existing is None:
            raise
        return existing, False
    return delivery, True
