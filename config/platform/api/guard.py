"""What no request may carry, refused before any view sees it (SPEC §1); the JSON body's own
checks are in config.platform.api.parsers.

PostgreSQL refuses NUL in text, so a NUL (%00) in a path or a query parameter used to end in a
500 at the first query that touched it; an offset of 16 hours or more is valid Python but not a
PostgreSQL timestamptz; a year lookup beyond 1-9999 (the admin's date filters) breaks Python's
dates. Each is 400 `validation_error` here (problem+json under /api/, a plain 400
elsewhere, e.g. the admin's change-list filters), and an API body over the documented limit
(`API_MAX_BODY_BYTES`) is 413 `payload_too_large`, before anything is read or changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from config.platform.api.errors import PROBLEM, problem
from config.platform.api.parsers import UNSTORABLE
from config.platform.exceptions import PayloadTooLarge, ValidationFailed

API_PREFIX = "/api/"
# A year lookup (`?created_at__year=2026`, also `__iso_year`, `__year__gte`) and its valid values.
_YEAR_LOOKUP = re.compile(r"__(?:iso_)?year(?:__|$)")
_YEAR = re.compile(r"0{0,3}[1-9]\d{0,3}")
# A time with a UTC offset of 16 hours or more: PostgreSQL's limit is 15:59:59.
_FAR_OFFSET = re.compile(r"\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*[+-](?:1[6-9]|2\d)(?::?\d\d)?\b")


def max_body_bytes() -> int:
    return settings.API_MAX_BODY_BYTES


def _query_problem(request: HttpRequest) -> ValidationFailed | None:
    if UNSTORABLE.search(request.path):
        return ValidationFailed(
            "The path may not contain NUL (%00).",
            errors=[{"field": "path", "message": "contains NUL"}],
        )
    for key, values in request.GET.lists():
        if _YEAR_LOOKUP.search(key) and not all(_YEAR.fullmatch(v) for v in values):
            # The admin's `created_at__year=10000` filter: Django builds the year's bounds
            # from it while rendering the page, outside the range Python's dates cover.
            return ValidationFailed(
                f"Query parameter {key!r}: a year is 1-9999.",
                errors=[{"field": key, "message": "a year is 1-9999"}],
            )
        for value in [key, *values]:
            if UNSTORABLE.search(value):
                return ValidationFailed(
                    f"Query parameter {key!r} may not contain NUL (%00).",
                    errors=[{"field": key, "message": "contains NUL"}],
                )
            if _FAR_OFFSET.search(value):
                return ValidationFailed(
                    f"Query parameter {key!r}: a UTC offset is at most ±15:59 "
                    "(RFC 3339 time, e.g. 2026-01-31T10:00:00+05:30).",
                    errors=[{"field": key, "message": "UTC offset beyond ±15:59"}],
                )
    return None


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith(API_PREFIX)
        refused = _query_problem(request)
        if refused is not None:
            if not api:
                return HttpResponseBadRequest(
                    refused.detail, content_type="text/plain; charset=utf-8"
                )
            return _problem(refused)
        if api and _declared_length(request) > max_body_bytes():
            return _problem(
                PayloadTooLarge(f"Request bodies are at most {max_body_bytes()} bytes.")
            )
        return self.get_response(request)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _problem(exc: ValidationFailed | PayloadTooLarge) -> JsonResponse:
    body = problem(
        status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
    )
    return JsonResponse(body, status=exc.status, content_type=PROBLEM)
