"""Who may see a portal page: a signed-in partner of that program, and no one else.

Anonymous users (and staff users: a staff session is not a partner) go to the program's sign-in
page; a partner of another program gets 403; an unknown program is 404."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from builder.portal.models import PartnerAccount
from builder.portal.selectors import partner_account_for_user, program_by_slug
from config.platform.models import Program
from rules.models import Participant


@dataclass(frozen=True)
class Partner:
    program: Program
    account: PartnerAccount

    @property
    def participant(self) -> Participant:
        return self.account.participant


def program_or_404(slug: str) -> Program:
    program = program_by_slug(slug)
    if program is None:
        raise Http404("No such program.")
    return program


def partner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, program: str, **kwargs) -> HttpResponse:
        program_obj = program_or_404(program)
        account = partner_account_for_user(request.user)
        if account is None:
            return redirect(reverse("portal:signin", args=[program_obj.slug]))
        if account.participant.program_id != program_obj.pk:
            return render(
                request,
                "portal/other_program.html",
                {"program": program_obj, "own": account.participant.program},
                status=403,
            )
        response = view(request, Partner(program=program_obj, account=account), **kwargs)
        response.headers.setdefault("Cache-Control", "private, no-store")
        return response

    return wrapper
