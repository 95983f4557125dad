"""The short links: GET /r/{referral_code} and /r/{referral_code}/{link_slug} (public).

A thin view: look the link up, record the click (one INSERT), answer 302 with the `rl_click`
cookie. An unknown code or slug is a plain 404 page, not the API's problem+json: the visitor is
a person with a browser, and nothing is recorded."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.http import require_GET

from rules.links.services.clicks import Visit, click_record
from rules.links.target_cache import link_target_cached

COOKIE = "rl_click"
NOT_FOUND_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Link not found</title>"
    "<h1>Link not found</h1><p>This referral link does not exist or no longer leads anywhere."
    "</p></html>"
)


def _client_ip(request: HttpRequest) -> str:
    if settings.CLICK_IP_FROM_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


@require_GET  # a HEAD (a link checker) is no click: 405
def referral_redirect(request: HttpRequest, code: str, slug: str | None = None) -> HttpResponse:
    target = link_target_cached(code=code, slug=slug)
    if target is None:
        return HttpResponseNotFound(NOT_FOUND_PAGE)
    visit = Visit(
        ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        referrer=request.headers.get("Referer", ""),
        query=request.GET,
    )
    recorded = click_record(target=target, visit=visit)
    if recorded is None:  # the program has no landing URL yet
        return HttpResponseNotFound(NOT_FOUND_PAGE)
    click_id, location = recorded
    response = HttpResponseRedirect(location)
    response.set_cookie(
        COOKIE,
        str(click_id),
        max_age=target.participant.program.attribution_window_days * 86400,
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Lax",
    )
    response["Cache-Control"] = "no-store"  # every visit is a click
    return response
