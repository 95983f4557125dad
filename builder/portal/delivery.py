"""One attempt at a portal email from the outbox, and the sweep (builder/portal/outbox.py has
the whole story)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from builder.portal import mail
from builder.portal.models import EmailOutbox, PartnerAccount

logger = logging.getLogger(__name__)

Status = EmailOutbox.Status


def email_retry_delay(attempts: int) -> timedelta:
    """Wait after `attempts` failed attempts: base · 2^(attempts-1), capped."""
    base = settings.PORTAL_EMAIL_RETRY_BASE_SECONDS
    cap = settings.PORTAL_EMAIL_RETRY_MAX_DELAY_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def _claim(pk: int, *, now: datetime) -> bool:
    """Take a due row for one attempt: its next attempt moves past the attempt's end (a
    lease), so a concurrent task or sweep skips it; a process that dies mid-attempt leaves it
    due again when the lease ends."""
    lease = now + timedelta(seconds=settings.MAIL_TIMEOUT_SECONDS + 30)
    return bool(
        EmailOutbox.objects.filter(pk=pk, status=Status.PENDING, next_attempt_at__lte=now).update(
            next_attempt_at=lease
        )
    )


def _recipient(row: EmailOutbox) -> tuple[str, str, str]:
    """(address, partner's name, why not) for a row: the why is set when it must be skipped."""
    account = (
        PartnerAccount.objects.select_related("participant", "user")
        .filter(participant__program=row.program, participant__external_id=row.beneficiary)
        .first()
    )
    if account is None:
        return "", "", "not a portal partner"
    if not account.user.is_active:
        return "", "", "partner account disabled"
    if not account.wants(row.kind):
        return "", "", "the partner turned this email off"
    attributes = account.participant.attributes or {}
    email = attributes.get("email")
    if not isinstance(email, str) or "@" not in email:
        return "", "", "the participant has no email address"
    name = attributes.get("name")
    return email, name if isinstance(name, str) else "", ""


def email_deliver(row: EmailOutbox, *, now: datetime | None = None) -> bool:
    """One attempt at a due row; False when it was not due (sent, skipped, given up, or leased
    by another worker)."""
    now = now or timezone.now()
    if not _claim(row.pk, now=now):
        return False
    row = EmailOutbox.objects.select_related("program").get(pk=row.pk)
    to, name, why_not = _recipient(row)
    if why_not:
        EmailOutbox.objects.filter(pk=row.pk).update(
            status=Status.SKIPPED, next_attempt_at=None, last_error=why_not
        )
        return True
    attempts = row.attempts + 1
    try:
        email = mail.notification_render(
            kind=row.kind,
            program_name=row.program.name,
            program_slug=row.program.slug,
            partner_name=name,
            data=row.data,
        )
        mail.email_send(
            to=to,
            email=email,
            headers={"Message-ID": mail.message_id(f"portal-email-{row.pk}.{row.kind}")},
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        update: dict[str, Any] = {"attempts": attempts, "last_error": error}
        if attempts >= settings.PORTAL_EMAIL_MAX_ATTEMPTS:
            update |= {"status": Status.FAILED, "next_attempt_at": None}
        else:
            update["next_attempt_at"] = timezone.now() + email_retry_delay(attempts)
        EmailOutbox.objects.filter(pk=row.pk).update(**update)
        logger.warning("portal email %s (%s) not sent: %s", row.pk, row.kind, error)
        return True
    EmailOutbox.objects.filter(pk=row.pk).update(
        status=Status.SENT,
        attempts=attempts,
        to=to,
        sent_at=timezone.now(),
        next_attempt_at=None,
        last_error="",
    )
    logger.info("portal email %s (%s) sent", row.pk, row.kind)
    return True


def email_deliver_many(ids: Iterable[int], *, now: datetime | None = None) -> int:
    attempted = 0
    for row in EmailOutbox.objects.filter(pk__in=list(ids)).order_by("pk"):
        attempted += email_deliver(row, now=now)
    return attempted


def email_deliver_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """The sweep: one attempt at each due row (oldest first, at most `limit`), including any
    whose hand-off was lost. Returns how many were attempted."""
    now = now or timezone.now()
    ids = list(
        EmailOutbox.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return email_deliver_many(ids, now=now)
