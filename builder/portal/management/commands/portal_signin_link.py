"""Print a partner's portal sign-in link: for the demo (`make run` prints the demo partner's)
and for an operator who signs a partner in without email. The link is the one the sign-in
email carries: single use, expiring after PORTAL_SIGNIN_LINK_SECONDS, for this program only."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from builder.portal import selectors
from builder.portal.services import LinkBase, partner_account_ensure, signin_link, signin_minutes
from config.platform.exceptions import NotFound
from rules.selectors import participant_get

ORIGIN = "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Print a sign-in link to the partner portal for one participant of a program."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("program", help="The program's slug")
        parser.add_argument("participant", help="The participant's external id")
        parser.add_argument(
            "--origin", default=ORIGIN, help=f"Scheme and host the link points at ({ORIGIN})"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        program = selectors.program_by_slug(opts["program"])
        if program is None:
            raise CommandError(f"No program {opts['program']!r}.")
        try:
            participant = participant_get(program=program, external_id=opts["participant"])
        except NotFound:
            raise CommandError(
                f"No participant {opts['participant']!r} in {program.slug!r}."
            ) from None
        account = partner_account_ensure(participant=participant)
        if not account.user.is_active:
            raise CommandError(f"The partner account of {participant.external_id} is disabled.")
        link = signin_link(account=account, base=LinkBase(origin=opts["origin"].rstrip("/")))
        self.stdout.write(
            f"==> Partner portal sign-in link for {participant.external_id} "
            f"(single use, {signin_minutes()} minutes): {link}"
        )
