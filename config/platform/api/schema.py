"""OpenAPI descriptions of the API's authentication classes (drf-spectacular extensions)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "config.platform.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A program's API key: `Authorization: Bearer rl_...`",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "config.platform.api.auth.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A staff user's admin session (unsafe methods need the CSRF token)",
        }


# Errors are application/problem+json everywhere (config.platform.api.errors). Views document their
# success responses; this hook documents the error answers every program operation can give, and
# moves any error response a view declared as application/json to the media type really sent.
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable error code (SPEC.md section 1)"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "path": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["message"],
            },
        },
    },
}
COMMON_ERRORS = {
    "400": "Invalid request (`validation_error` and other 400 codes)",
    "401": "Missing, unknown or revoked API key (`authentication_failed`)",
    "403": "The caller (a key's owner) lacks the route's permission (`permission_denied`; "
    "approving one's own payout batch or rule publish request: `four_eyes_violation`)",
    "404": "Unknown resource, or another program's (`not_found`)",
    "429": "Throttled (`rate_limited`); see the Retry-After header",
}
WRITE_ERRORS = {
    "409": "Conflicts with the current state (`invalid_transition`, `insufficient_funds`, ...)",
    "422": "Idempotency-Key reused with a different request (`idempotency_key_reused`)",
}
PROBLEM_MEDIA = "application/problem+json"


def _body_errors() -> dict[str, str]:
    return {
        "413": f"The body is over {settings.API_MAX_BODY_BYTES} bytes (`payload_too_large`); "
        "a body nested deeper than 64 levels is 400 `validation_error`",
    }


def problem_responses_hook(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/programs/"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    response["content"] = {PROBLEM_MEDIA: content.pop("application/json")}
            errors = dict(COMMON_ERRORS)
            if method in ("post", "put", "patch", "delete"):
                errors |= WRITE_ERRORS
            if method in ("post", "put", "patch"):
                errors |= _body_errors()
            for status, description in errors.items():
                responses.setdefault(status, {"description": description, "content": {}})
            for status, response in responses.items():
                # Every error answer, including those a view declares without a body, is a problem.
                if status[0] in "45":
                    response.setdefault("content", {}).setdefault(PROBLEM_MEDIA, ref)
    return result
