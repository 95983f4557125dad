"""The portal's writes: partner accounts, sign-in links, signup and its approval queue, email
preferences. Participants are created through rules.services.participants, never here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from sesame.utils import get_token, get_user

from builder.portal import ratelimit, selectors
from builder.portal.mail import signin_email_send
from builder.portal.models import EmailOutbox, PartnerAccount, PartnerApplication
from builder.portal.tasks import email_dispatch
from config.platform.audit import audit_record
from config.platform.models import PartnerSignup, Program
from rules.models import Participant
from rules.selectors import participant_by_email
from rules.services.participants import participant_upsert

PORTAL_ACTOR = "portal"


class RateLimited(Exception):
    """Too many sign-in or signup requests for this email or from this address."""


def _scope(program: Program) -> str:
    # A token of one program's portal signs in nowhere else.
    return f"portal:{program.slug}"


def signin_minutes() -> int:
    return settings.SESAME_MAX_AGE // 60


def _check_rate(*, email: str, ip: str) -> None:
    window = settings.PORTAL_RATE_WINDOW_SECONDS
    by_email = ratelimit.allow(
        "email", email, limit=settings.PORTAL_RATE_PER_EMAIL, window_seconds=window
    )
    by_ip = ratelimit.allow("ip", ip, limit=settings.PORTAL_RATE_PER_IP, window_seconds=window)
    if not (by_email and by_ip):
        raise RateLimited


# --- accounts ---------------------------------------------------------------------------------


def partner_account_ensure(*, participant: Participant) -> PartnerAccount:
    """The participant's partner account, created with its user on first use: a user that is
    not staff, has no usable password and can only be signed in by a link."""
    existing = selectors.partner_account_of(participant)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            user = get_user_model()(
                username=f"partner-{participant.pk}",
                email=str(participant.attributes.get("email", ""))[:254],
                is_staff=False,
                is_superuser=False,
            )
            user.set_unusable_password()
            user.save()
            return PartnerAccount.objects.create(user=user, participant=participant)
    except IntegrityError:  # made at the same moment by another request: theirs stands
        account = selectors.partner_account_of(participant)
        if account is None:
            raise
        return account


EMAIL_PREFERENCES = ("email_reward_confirmed", "email_payout_sent", "email_payout_failed")


def email_preferences_update(*, account: PartnerAccount, wanted: dict[str, bool]) -> PartnerAccount:
    """Set which notification emails the partner gets (EMAIL_PREFERENCES; a missing one is
    unchanged). Audited when something changed. Sign-in links are always sent."""
    before = {name: getattr(account, name) for name in EMAIL_PREFERENCES}
    after = {name: bool(wanted.get(name, before[name])) for name in EMAIL_PREFERENCES}
    changed = [name for name in EMAIL_PREFERENCES if before[name] != after[name]]
    if changed:
        for name in changed:
            setattr(account, name, after[name])
        account.save(update_fields=changed)
        audit_record(
            program=account.participant.program,
            actor=f"partner:{account.participant.external_id}",
            action="partner.email_preferences_changed",
            object_type="participant",
            object_id=account.participant.external_id,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
        )
    return account


# --- sign-in links ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkBase:
    """Where links point: the scheme and host the request came in on (e.g.
    https://ref.example.com), so a link works on the site the partner used."""

    origin: str


def signin_link(*, account: PartnerAccount, base: LinkBase) -> str:
    """A new sign-in link for the partner (single use, expiring; see signin_link_user)."""
    program = account.participant.program
    token = get_token(account.user, scope=_scope(program))
    return f"{base.origin}{reverse('portal:signin-link', args=[program.slug])}?sesame={token}"


def _send_link(*, account: PartnerAccount, base: LinkBase, welcome: bool) -> None:
    participant = account.participant
    program = participant.program
    link = signin_link(account=account, base=base)
    email = str(participant.attributes.get("email", ""))
    transaction.on_commit(
        partial(
            signin_email_send,
            to=email,
            program_name=program.name,
            link=link,
            minutes=signin_minutes(),
            welcome=welcome,
        )
    )


def signin_link_request(*, program: Program, email: str, ip: str, base: LinkBase) -> None:
    """Email a sign-in link to the program's participant with this email, if there is one.
    Answers the same (nothing) when there is none: the page never tells whether an address is
    known. RateLimited past the per-email or per-address limit, known or not."""
    _check_rate(email=email, ip=ip)
    participant = participant_by_email(program=program, email=email)
    if participant is None:
        return
    with transaction.atomic():
        account = partner_account_ensure(participant=participant)
        if account.user.is_active:
            _send_link(account=account, base=base, welcome=False)


def signin_link_user(*, program: Program, token: str):
    """The partner user a sign-in link names, consuming it (single use: the token hashes the
    user's last_login, which this updates); None for a bad, used, expired or other program's
    token, or a user that is not a partner of this program."""
    user = get_user(token, scope=_scope(program))
    if user is None:
        return None
    account = selectors.partner_account_for_user(user)
    if account is None or account.participant.program_id != program.pk:
        return None
    return user


# --- signup -----------------------------------------------------------------------------------


def partner_apply(*, program: Program, email: str, name: str, ip: str, base: LinkBase) -> None:
    """Someone asks to join the program's portal. By the program's `partner_signup`:
    `open` creates the participant and sends a sign-in link; `approval` queues an application
    for an operator; `closed` does nothing. A known email is sent a sign-in link instead. The
    answer is the same in every case (no user enumeration)."""
    _check_rate(email=email, ip=ip)
    if program.partner_signup == PartnerSignup.CLOSED:
        return
    existing = participant_by_email(program=program, email=email)
    if existing is not None:
        with transaction.atomic():
            _send_link(
                account=partner_account_ensure(participant=existing), base=base, welcome=False
            )
        return
    if program.partner_signup == PartnerSignup.OPEN:
        with transaction.atomic():
            participant = _participant_create(program=program, email=email, name=name)
            account = partner_account_ensure(participant=participant)
            _send_link(account=account, base=base, welcome=True)
        return
    if selectors.application_pending(program=program, email=email) is not None:
        return
    try:
        with transaction.atomic():
            application = PartnerApplication.objects.create(
                program=program, email=email.strip(), name=name.strip()
            )
            audit_record(
                program=program,
                actor=PORTAL_ACTOR,
                action="partner_application.created",
                object_type="partner_application",
                object_id=application.pk,
                after={"email": application.email, "name": application.name},
            )
    except IntegrityError:  # applied twice at once: one pending application stays
        pass


def _participant_create(*, program: Program, email: str, name: str) -> Participant:
    """A participant for a partner who joined through the portal: a generated external id (the
    company's own ids are unknown here), the email and name as attributes."""
    attributes = {"email": email.strip()}
    if name.strip():
        attributes["name"] = name.strip()
    for _ in range(5):
        external_id = f"partner-{secrets.token_hex(6)}"
        participant, created = participant_upsert(
            program=program, external_id=external_id, attributes=attributes, actor=PORTAL_ACTOR
        )
        if created:
            return participant
    raise RuntimeError("Could not draw a unique partner id")  # 2^48 ids: unreachable


def application_approve(
    *, application: PartnerApplication, actor: str, base: LinkBase
) -> PartnerApplication:
    """Approve a pending application: the participant is created (or found by email), gets a
    partner account and a welcome sign-in link. Audited. A decided application is unchanged."""
    with transaction.atomic():
        locked = PartnerApplication.objects.select_for_update().get(pk=application.pk)
        if locked.status != PartnerApplication.Status.PENDING:
            return locked
        program = locked.program
        participant = participant_by_email(
            program=program, email=locked.email
        ) or _participant_create(program=program, email=locked.email, name=locked.name)
        locked.status = PartnerApplication.Status.APPROVED
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.participant = participant
        locked.save(update_fields=["status", "decided_by", "decided_at", "participant"])
        audit_record(
            program=program,
            actor=actor,
            action="partner_application.approved",
            object_type="partner_application",
            object_id=locked.pk,
            before={"status": "pending"},
            after={"status": "approved", "participant": participant.external_id},
        )
        account = partner_account_ensure(participant=participant)
        _send_link(account=account, base=base, welcome=True)
    return locked


def application_reject(*, application: PartnerApplication, actor: str) -> PartnerApplication:
    """Reject a pending application (no email is sent). Audited."""
    with transaction.atomic():
        locked = PartnerApplication.objects.select_for_update().get(pk=application.pk)
        if locked.status != PartnerApplication.Status.PENDING:
            return locked
        locked.status = PartnerApplication.Status.REJECTED
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            program=locked.program,
            actor=actor,
            action="partner_application.rejected",
            object_type="partner_application",
            object_id=locked.pk,
            before={"status": "pending"},
            after={"status": "rejected"},
        )
    return locked


def partner_invite(*, participant: Participant, actor: str, base: LinkBase) -> bool:
    """An operator invites a participant to the portal: a welcome sign-in link to their email
    attribute. False (nothing sent) for a participant without an email. Audited."""
    email = participant.attributes.get("email")
    if not isinstance(email, str) or "@" not in email:
        return False
    with transaction.atomic():
        account = partner_account_ensure(participant=participant)
        audit_record(
            program=participant.program,
            actor=actor,
            action="partner.invited",
            object_type="participant",
            object_id=participant.external_id,
        )
        _send_link(account=account, base=base, welcome=True)
    return True


# --- the email outbox -------------------------------------------------------------------------


def email_send_again(*, email: EmailOutbox, actor: str) -> EmailOutbox:
    """An operator sends a failed or skipped partner email again (the mail server is fixed, the
    partner added an address): it is due now with a fresh retry budget, and whether the partner
    wants it is decided again when it is sent. A pending or sent email is unchanged. Audited."""
    with transaction.atomic():
        locked = EmailOutbox.objects.select_for_update().get(pk=email.pk)
        if locked.status not in (EmailOutbox.Status.FAILED, EmailOutbox.Status.SKIPPED):
            return locked
        before = {"status": locked.status, "attempts": locked.attempts}
        locked.status = EmailOutbox.Status.PENDING
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_record(
            program=locked.program,
            actor=actor,
            action="partner_email.sent_again",
            object_type="partner_email",
            object_id=locked.pk,
            before=before,
            after={"status": locked.status},
        )
        transaction.on_commit(partial(email_dispatch, [locked.pk]))
    return locked
