"""The portal's emails: what each says and how it goes out (SPEC section 12, docs/PORTAL.md).

Every email is a pair of Django templates under builder/portal/templates/portal/email/, a
`.txt` body and an `.html` alternative: `signin` (a sign-in link), `welcome` (the sign-in link
of a partner who just joined or was invited or approved), and the notifications
`reward_confirmed`, `payout_sent` and `payout_failed`. Money is shown in major units with the
currency. Sign-in and welcome emails are sent once after the commit that asked for them (a
sign-in link is a credential that expires in minutes: it is never stored, and a partner who did
not get one asks again); notifications go through the durable outbox (builder/portal/outbox.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from config.platform.admin.common import money

logger = logging.getLogger(__name__)

TEMPLATE_DIR = "portal/email"


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def _render(name: str, subject: str, context: dict[str, Any]) -> Email:
    return Email(
        subject=subject,
        text=render_to_string(f"{TEMPLATE_DIR}/{name}.txt", context),
        html=render_to_string(f"{TEMPLATE_DIR}/{name}.html", context),
    )


def email_send(*, to: str, email: Email, headers: dict[str, str] | None = None) -> None:
    """Hand one email to the configured backend (SMTP in production: EMAIL_HOST and friends).
    Raises what the backend raises; callers decide whether to retry."""
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Auto-Submitted": "auto-generated", **(headers or {})},
    )
    message.attach_alternative(email.html, "text/html")
    message.send()


def message_id(key: str) -> str:
    """A Message-ID that is the same on every attempt of one outbox email, so a mail system
    that saw an attempt whose answer was lost can tell the next one is the same message."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{key}@{domain}>"


# --- sign-in and welcome ----------------------------------------------------------------------


def signin_email_send(
    *, to: str, program_name: str, link: str, minutes: int, welcome: bool = False
) -> bool:
    """Send the sign-in link (`welcome`: the welcome email, which carries one); False (logged)
    when the mail server refuses it. Never raises: the page that asked for it answers the same
    either way (no user enumeration)."""
    context = {"program_name": program_name, "link": link, "minutes": minutes}
    if welcome:
        email = _render("welcome", f"Welcome to {program_name}'s partner program", context)
    else:
        email = _render("signin", f"Your sign-in link for {program_name}", context)
    try:
        email_send(to=to, email=email)
    except Exception:  # an SMTP error, a refused address: the link is lost, not the request
        logger.exception("portal sign-in email not sent")
        return False
    return True


# --- notifications ----------------------------------------------------------------------------


def portal_url(program_slug: str, name: str = "home") -> str:
    """An absolute portal URL for an email (PORTAL_BASE_URL, e.g. https://ref.example.com);
    empty when it is not set, and the email then names the page without a link."""
    base = settings.PORTAL_BASE_URL.rstrip("/")
    if not base:
        return ""
    return base + reverse(f"portal:{name}", args=[program_slug])


SUBJECTS = {
    "reward_confirmed": "{program}: your reward of {amount} is confirmed",
    "payout_sent": "{program}: we sent you {amount}",
    "payout_failed": "{program}: your payout of {amount} could not be sent",
}
PAGES = {"reward_confirmed": "rewards", "payout_sent": "payouts", "payout_failed": "payouts"}


def notification_render(
    *, kind: str, program_name: str, program_slug: str, partner_name: str, data: dict[str, Any]
) -> Email:
    """One notification email (EmailOutbox.Kind) from the data its notification carried:
    `amount` (minor units) and `currency`, and for a failed payout its `reason`."""
    amount = data.get("amount")
    currency = str(data.get("currency", ""))
    shown = money(int(amount), currency) if amount is not None else "your money"
    context = {
        "program_name": program_name,
        "name": partner_name,
        "amount": shown,
        "reason": str(data.get("reason") or data.get("error") or ""),
        "page_url": portal_url(program_slug, PAGES[kind]),
        "details_url": portal_url(program_slug, "payout-details"),
        "preferences_url": portal_url(program_slug, "preferences"),
    }
    subject = SUBJECTS[kind].format(program=program_name, amount=shown)
    return _render(kind, subject, context)
