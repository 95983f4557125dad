"""API authentication: program-scoped bearer keys, or a staff user's Django session."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from ledger.models import ApiKey, hash_api_key


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """request.user for a request made with an API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False
    is_active: bool = True

    @property
    def actor(self) -> str:
        return self.api_key.actor

    @property
    def pk(self) -> int:
        return self.api_key.pk


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        try:
            key = ApiKey.objects.select_related("program").get(
                Q(revoked_at__isnull=True), key_hash=hash_api_key(raw.strip())
            )
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """Staff users logged in through the admin may call every program's endpoints; unsafe
    methods need the CSRF token, as usual in Django."""

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result


class IsProgramMember(permissions.BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)


def actor_of(request: Request) -> str:
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return user.actor
    return f"user:{user.get_username()}"


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """API_RATE_LIMIT per API key (staff sessions are throttled per user)."""

    scope = "api_key"

    def get_cache_key(self, request: Request, view) -> str | None:
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            ident = f"key:{user.api_key.pk}"
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

from ledger.api import schema as _schema  # noqa: E402,F401  (registers the OpenAPI auth schemes)
