"""Signing in and joining (public pages). Every answer to an email is the same whether the
address is known or not; only the rate limit answers differently (429), and it counts unknown
addresses too."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from builder.portal.forms import EmailForm, JoinForm, TokenForm
from builder.portal.services import (
    LinkBase,
    RateLimited,
    partner_apply,
    signin_link_request,
    signin_link_user,
    signin_minutes,
)
from builder.portal.views.access import program_or_404
from config.platform.models import PartnerSignup


def client_ip(request: HttpRequest) -> str:
    """The client's address (the proxy's last X-Forwarded-For entry when the links' setting
    says a proxy appends one), for the per-address rate limit."""
    if settings.CLICK_IP_FROM_FORWARDED_FOR:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _base(request: HttpRequest) -> LinkBase:
    return LinkBase(origin=f"{request.scheme}://{request.get_host()}")


def _too_many(request: HttpRequest, program) -> HttpResponse:
    response = render(request, "portal/too_many.html", {"program": program}, status=429)
    response["Retry-After"] = str(settings.PORTAL_RATE_WINDOW_SECONDS)
    return response


@require_http_methods(["GET", "POST"])
def signin(request: HttpRequest, program: str) -> HttpResponse:
    program_obj = program_or_404(program)
    form = EmailForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            signin_link_request(
                program=program_obj,
                email=form.cleaned_data["email"],
                ip=client_ip(request),
                base=_base(request),
            )
        except RateLimited:
            return _too_many(request, program_obj)
        return render(
            request,
            "portal/signin_sent.html",
            {"program": program_obj, "minutes": signin_minutes()},
        )
    return render(request, "portal/signin.html", {"program": program_obj, "form": form})


@require_http_methods(["GET", "POST"])
def signin_link(request: HttpRequest, program: str) -> HttpResponse:
    """The link in the email. GET only shows a button: mail scanners that open links must not
    use up a single-use link; the button's POST signs in."""
    program_obj = program_or_404(program)
    if request.method == "GET":
        form = TokenForm(initial={"sesame": request.GET.get("sesame", "")})
        return render(request, "portal/signin_link.html", {"program": program_obj, "form": form})
    form = TokenForm(request.POST)
    user = (
        signin_link_user(program=program_obj, token=form.cleaned_data["sesame"])
        if form.is_valid()
        else None
    )
    if user is None:
        return render(request, "portal/signin_invalid.html", {"program": program_obj}, status=400)
    login(request, user)  # user.backend: sesame's, set by authenticate()
    return redirect("portal:home", program=program_obj.slug)


@require_POST
def signout(request: HttpRequest, program: str) -> HttpResponse:
    program_obj = program_or_404(program)
    logout(request)
    return redirect(reverse("portal:signin", args=[program_obj.slug]))


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, program: str) -> HttpResponse:
    program_obj = program_or_404(program)
    policy = program_obj.partner_signup
    form = JoinForm(request.POST if request.method == "POST" else None)
    if policy != PartnerSignup.CLOSED and request.method == "POST" and form.is_valid():
        try:
            partner_apply(
                program=program_obj,
                email=form.cleaned_data["email"],
                name=form.cleaned_data["name"],
                ip=client_ip(request),
                base=_base(request),
            )
        except RateLimited:
            return _too_many(request, program_obj)
        return render(
            request,
            "portal/join_sent.html",
            {"program": program_obj, "policy": policy, "minutes": signin_minutes()},
        )
    return render(
        request, "portal/join.html", {"program": program_obj, "form": form, "policy": policy}
    )
