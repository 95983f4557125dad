"""The portal's email outbox: notifications to partners that never block or break the money
write that caused them (SPEC section 12, docs/PORTAL.md "Emails").

Code: this module (recording), builder/portal/tasks.py (the hand-off, the Celery tasks),
builder/portal/delivery.py (one attempt, the sweep), builder/portal/mail.py (the templates).

1. The money domain calls `config.platform.notifications.notification_emit(...)` inside its
   transaction; `notification_record` (registered in PortalConfig.ready) writes one EmailOutbox
   row there, in a savepoint, and swallows any error of its own: a rolled-back change leaves no
   row, and a failing outbox never fails the change.
2. After the commit the row is handed off (`transaction.on_commit`): to the Celery task
   `portal.email_send` when CELERY_BROKER_URL is set, otherwise to a one-thread pool of this
   process, so no request or sweep waits on the mail server.
3. `email_deliver` claims a due row (a lease on `next_attempt_at`, so two workers never send
   it at once), decides whether to send (a partner account, an email address, the partner's
   preference), sends it, and marks it sent; a failure schedules the next attempt with
   exponential backoff (PORTAL_EMAIL_RETRY_BASE_SECONDS · 2^(n-1), capped) until
   PORTAL_EMAIL_MAX_ATTEMPTS. The sweep `portal.email_send_due` (beat, or the inline scheduler)
   sends what is due, including rows whose hand-off was lost with a process.

One row per (program, kind, object) (a unique constraint), so a repeated or racing notification
adds no second email. A process that dies after the mail server took an email but before the row
was marked sent sends it again once its lease expires (at least once, the same Message-ID).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from builder.portal.models import EmailOutbox, PartnerAccount
from builder.portal.tasks import email_dispatch

logger = logging.getLogger(__name__)

Kind = EmailOutbox.Kind

# notification kind (config.platform.notifications) → (outbox kind, the data key naming the
# object it is about; the first one present counts).
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reward.confirmed": (Kind.REWARD_CONFIRMED, ("reward", "reward_id")),
    "payout.sent": (Kind.PAYOUT_SENT, ("payout_item", "item", "payout_item_id", "item_id")),
    "payout.failed": (Kind.PAYOUT_FAILED, ("payout_item", "item", "payout_item_id", "item_id")),
}
OBJECT_NAMES: dict[str, str] = {
    Kind.REWARD_CONFIRMED: "reward",
    Kind.PAYOUT_SENT: "payout_item",
    Kind.PAYOUT_FAILED: "payout_item",
}


# --- 1. recording, in the money write's transaction -------------------------------------------


def _partner(program_id: int, beneficiary: str, kind: str) -> tuple[str, bool] | None:
    """(external id, wants this kind of email) of the partner a notification names (by
    external id, the money domain's name for participants); None when the participant has no
    portal account. One indexed read."""
    return (
        PartnerAccount.objects.filter(
            participant__program_id=program_id, participant__external_id=beneficiary
        )
        .values_list("participant__external_id", f"email_{kind}")
        .first()
    )


def _object_key(kind: str, keys: tuple[str, ...], data: Mapping[str, Any]) -> str:
    for key in keys:
        if data.get(key) not in (None, ""):
            return f"{OBJECT_NAMES[kind]}:{data[key]}"
    return ""


def notification_record(
    kind: str, *, program_id: int, beneficiary: str, data: Mapping[str, Any]
) -> None:
    """The portal's notification handler: an outbox row for a partner who wants this email,
    sent after the commit. Never raises (the money write must not depend on mail)."""
    try:
        outbox_kind, keys = KINDS[kind]
        object_key = _object_key(outbox_kind, keys, data)
        if not object_key:
            logger.warning("notification %s names no object: %r", kind, data)
            return
        # A savepoint around the reads and the insert: a missing table (the portal's
        # migrations not applied), a failed insert or a duplicate leaves the change intact.
        with transaction.atomic():
            # Only partners who joined the portal and want this email: no row at all for the
            # participants who never signed up (most of a large program) or opted out.
            partner = _partner(program_id, beneficiary, outbox_kind)
            if partner is None or not partner[1]:
                return
            row = EmailOutbox.objects.create(
                program_id=program_id,
                beneficiary=partner[0],
                kind=outbox_kind,
                object_key=object_key,
                data=dict(data),
                next_attempt_at=timezone.now(),
            )
    except Exception as exc:
        if transaction.get_connection().needs_rollback:
            # The savepoint itself could not be rolled back (the connection is gone, say):
            # swallowing the error would let the change "succeed" and then roll back silently
            # at its commit. Fail it instead, so its caller sees the failure and retries.
            raise
        if not isinstance(exc, IntegrityError):  # a duplicate: one per kind and object
            logger.exception("could not record the %s email; the change goes on without it", kind)
        return
    transaction.on_commit(partial(email_dispatch, [row.pk]))
