"""Named referral links: a participant's campaign links, each with an optional destination."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import IntegrityError, transaction

from config.platform.audit import audit_record
from config.platform.destinations import destination_normalized
from config.platform.exceptions import AlreadyExists, ValidationFailed
from rules.links.models import SLUG_PATTERN, ReferralLink
from rules.models import Participant

_SLUG = re.compile(SLUG_PATTERN.replace("^", r"\A").replace("$", r"\Z"))


def referral_link_create(
    *, participant: Participant, slug: object, destination: object = "", actor: str
) -> ReferralLink:
    """A new named link; 400 for a bad slug or a destination off the program's allowed
    domains, 409 `already_exists` when the participant has a link of that slug."""
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise ValidationFailed(
            "A link's slug is 1-40 lower-case letters, digits and hyphens.",
            errors=[{"field": "slug", "message": f"must match {SLUG_PATTERN}"}],
        )
    program = participant.program
    normalized = ""
    if destination:
        found = destination_normalized(
            destination, program.allowed_domains, https_only=not settings.DEBUG
        )
        if found is None:
            raise ValidationFailed(
                "The destination must be an https URL on one of the program's allowed domains "
                f"({', '.join(program.allowed_domains) or 'none set'}).",
                errors=[{"field": "destination", "message": "not on an allowed domain"}],
            )
        normalized = found
    try:
        with transaction.atomic():
            link = ReferralLink.objects.create(
                participant=participant, slug=slug, destination=normalized
            )
            audit_record(
                program=program,
                actor=actor,
                action="referral_link.created",
                object_type="referral_link",
                object_id=link.pk,
                after={
                    "participant": participant.external_id,
                    "slug": slug,
                    "destination": normalized,
                },
            )
    except IntegrityError:
        raise AlreadyExists(
            f"{participant.external_id} already has a link named {slug!r}.",
            errors=[{"field": "slug", "message": "already used by this participant"}],
        ) from None
    return link
