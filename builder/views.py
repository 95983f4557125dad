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
from rules.selectors import programs_with_rules, rules_config_get, rules_waiting_for_approval

# Publishing (and rejecting a request to publish) changes the rule; approving another
# person's request has its own permission (rule authors hold it, backend API keys do not).
CHANGE_RULES = "rules.change_rule"
APPROVE_PUBLISH = "rules.approve_rulepublishrequest"

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


def _rule_matches(rule: Rule, words: list[str], status: str) -> bool:
    trigger = rule.trigger or getattr(rule, "latest_trigger", "") or ""
    text = f"{rule.name} {trigger} {rule.get_status_display()}".lower()
    return all(word in text for word in words) and (not status or rule.status == status)


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    """Every program's rules with their trigger, priority and status. The search box filters
    the rows as one types (static/builder/index.js); without scripts ?q= and ?status= do."""
    query = request.GET.get("q", "")[:200]
    status = request.GET.get("status", "")
    if status not in Rule.Status.values:
        status = ""
    words = query.lower().split()
    programs = [
        (program, [r for r in program.rules.all() if _rule_matches(r, words, status)])
        for program in programs_with_rules()
    ]
    return render(
        request,
        "builder/index.html",
        {
            "programs": programs,
            "query": query,
            "status": status,
            "statuses": Rule.Status.choices,
            "pending": rules_waiting_for_approval(),
        },
    )


# The canvas library (X6) inserts its own stylesheet as a <style> element, which carries no nonce:
# this page allows inline styles. Scripts keep the strict policy (settings.SECURE_CSP).
EDITOR_CSP: dict[str, Any] = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}


@csp_override(EDITOR_CSP)
@staff_required
def editor(request: HttpRequest, program: str, rule_id: int | None = None) -> HttpResponse:
    program_obj = get_object_or_404(Program, slug=program)
    rule = get_object_or_404(Rule, program=program_obj, pk=rule_id) if rule_id else None
    # Two-person publishing (issue 15): the editor offers "Request publish" instead of
    # "Publish", and approving a request to whoever did not make it. The API decides; this only
    # picks the buttons.
    requires_approval = bool(
        getattr(rules_config_get(program=program_obj), "rules_publish_requires_approval", False)
    )
    config = {
        "program": program_obj.slug,
        "programName": program_obj.name,
        "currency": program_obj.currency,
        "actor": f"user:{request.user.get_username()}",
        "canPublish": request.user.has_perm(CHANGE_RULES),
        "canApprove": request.user.has_perm(APPROVE_PUBLISH),
        "requiresApproval": requires_approval,
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
