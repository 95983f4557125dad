"""The portal's emails. For now one: the sign-in link (also the invitation and the welcome
after an approval). A plain function a later mailer may route through the shared email
framework (issue 13 item 5); it is called after the commit of the write that asked for it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def signin_email_send(
    *, to: str, program_name: str, link: str, minutes: int, welcome: bool = False
) -> bool:
    """Send the sign-in link; False (logged) when the mail server refuses it. Never raises:
    the page that asked for it answers the same either way (no user enumeration)."""
    context = {"program_name": program_name, "link": link, "minutes": minutes, "welcome": welcome}
    subject = (
        f"Welcome to {program_name}: your sign-in link"
        if welcome
        else f"Your sign-in link for {program_name}"
    )
    try:
        send_mail(
            subject,
            render_to_string("portal/email/signin.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            [to],
            html_message=render_to_string("portal/email/signin.html", context),
        )
    except Exception:  # an SMTP error, a refused address: the link is lost, not the request
        logger.exception("portal sign-in email not sent")
        return False
    return True
