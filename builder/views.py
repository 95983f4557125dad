"""Rule builder pages (SPEC §10). The pages are thin: they hand the editor its starting data
(json_script) and the editor talks to the rules HTTP API (SPEC §6) with the staff session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override

from config.platform.models import Program
from rules.models import Rule
from rules.selectors import programs_with_rules

# What the pages show (every program's rules, their triggers and versions) is what the rules
# API's GET routes need: a staff user without it (an operator, an approver) gets 403 here too.
VIEW_RULES = "rules.view_rule"


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the admin's login page; signed-in users who are not staff, or who
    may not see rules, get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("The rule builder is for staff users.")
        if not request.user.has_perm(VIEW_RULES):
            raise PermissionDenied(f"The rule builder needs the permission {VIEW_RULES}.")
        return view(request, *args, **kwargs)

    return wrapper


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "builder/index.html", {"programs": programs_with_rules()})


# The canvas library (X6) inserts its own stylesheet as a <style> element, which carries no nonce:
# this page allows inline styles. Scripts keep the strict policy (settings.SECURE_CSP).
EDITOR_CSP: dict[str, Any] = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}


@csp_override(EDITOR_CSP)
@staff_required
def editor(request: HttpRequest, program: str, rule_id: int | None = None) -> HttpResponse:
    program_obj = get_object_or_404(Program, slug=program)
    rule = get_object_or_404(Rule, program=program_obj, pk=rule_id) if rule_id else None
    config = {
        "program": program_obj.slug,
        "programName": program_obj.name,
        "currency": program_obj.currency,
        "ruleId": rule.pk if rule else None,
        "apiBase": f"/api/v1/programs/{program_obj.slug}/",
        "csrfToken": get_token(request),
        "editorBase": reverse("builder:rule-new", args=[program_obj.slug]).rsplit("new", 1)[0],
        "indexUrl": reverse("builder:index"),
    }
    return render(
        request,
        "builder/editor.html",
        {"program": program_obj, "rule": rule, "config": config},
    )
