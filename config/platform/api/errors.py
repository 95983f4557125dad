"""The one place where errors become application/problem+json (RFC 9457) with a SPEC code."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from config.platform.exceptions import DomainError

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://referral-ledger.dev/problems/"

_DRF_CODES: list[tuple[type[Exception], str, str]] = [
    (drf.NotAuthenticated, "authentication_failed", "Authentication required"),
    (drf.AuthenticationFailed, "authentication_failed", "Authentication failed"),
    (drf.PermissionDenied, "permission_denied", "Permission denied"),
    (drf.NotFound, "not_found", "Not found"),
    (drf.Throttled, "rate_limited", "Too many requests"),
    (drf.MethodNotAllowed, "method_not_allowed", "Method not allowed"),
    (drf.NotAcceptable, "not_acceptable", "Not acceptable"),
    (drf.UnsupportedMediaType, "validation_error", "Unsupported media type"),
    (drf.ParseError, "validation_error", "Malformed request body"),
    (drf.ValidationError, "validation_error", "Invalid request"),
]


def problem(
    *, status: int, code: str, title: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def flatten_errors(data: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error dicts → [{"field": "postings.0.amount", "message": ...}]."""
    out: list[dict[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key == "non_field_errors" else str(key)
            out += flatten_errors(value, f"{prefix}.{name}".strip(".") if name else prefix)
    elif isinstance(data, list):
        if all(not isinstance(v, dict | list) for v in data):
            out += [{"field": prefix or "body", "message": str(v)} for v in data]
        else:
            for i, value in enumerate(data):
                out += flatten_errors(value, f"{prefix}.{i}".strip("."))
    else:
        out.append({"field": prefix or "body", "message": str(data)})
    return out


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        body = problem(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
        )
    elif isinstance(exc, Http404):
        body = problem(status=404, code="not_found", title="Not found", detail="Not found.")
    elif isinstance(exc, RequestDataTooBig):
        body = problem(
            status=413,
            code="payload_too_large",
            title="Request body too large",
            detail="The request body is over the documented limit.",
        )
    elif isinstance(exc, drf.APIException):
        code, title = "error", "Error"
        for cls, c, t in _DRF_CODES:
            if isinstance(exc, cls):
                code, title = c, t
                break
        errors = None
        if isinstance(exc, drf.ValidationError):
            errors = flatten_errors(exc.detail)
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or title
        else:
            detail = str(exc.detail)
        body = problem(status=exc.status_code, code=code, title=title, detail=detail, errors=errors)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait or 1))  # type: ignore[attr-defined]
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away mid-request (a failover, a terminated session, a pooler
        # restart) or refused for now (a lock or statement timeout): the transaction was rolled
        # back, and a retry with the same Idempotency-Key is safe either way.
        logger.warning("Database unavailable during an API request", exc_info=exc)
        body = problem(
            status=503,
            code="service_unavailable",
            title="Service unavailable",
            detail="The database could not complete the request. Retry with the same "
            "Idempotency-Key: a request that did complete is replayed, never repeated.",
        )
        headers["Retry-After"] = "1"
    else:
        logger.exception("Unhandled error in API view", exc_info=exc)
        body = problem(
            status=500,
            code="internal_error",
            title="Internal error",
            detail="An unexpected error occurred; nothing was changed. Retry later.",
        )
    set_rollback()
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM)


def problem_response(exc: DomainError) -> JsonResponse:
    body = problem(
        status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
    )
    return JsonResponse(body, status=exc.status, content_type=PROBLEM)


@csrf_exempt  # a 404 either way: CSRF's 403 page would answer an unknown POST path in HTML
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The last route under /api/: an unknown API path is a problem+json 404, in DEBUG too
    (where Django's handler404 gives way to its technical HTML page)."""
    body = problem(status=404, code="not_found", title="Not found", detail="No such resource.")
    return JsonResponse(body, status=404, content_type=PROBLEM)


def problem_not_found(request: HttpRequest, exception: Exception | None = None):
    """handler404: problem+json under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        body = problem(status=404, code="not_found", title="Not found", detail="No such resource.")
        return JsonResponse(body, status=404, content_type=PROBLEM)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())
