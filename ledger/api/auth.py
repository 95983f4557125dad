"""API authentication: program-scoped bearer keys, or a staff user's Django session."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import router
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from ledger import rowsql
from ledger.db import prepared_cursor
from ledger.models import ApiKey, Program, hash_api_key


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


@functools.cache
def _key_query(db: str) -> tuple[str, list[rowsql.Columns]]:
    """The SQL of `ApiKey.objects.select_related("program").get(key_hash=..., revoked_at=None)`
    and how to read its row back, built once: compiling that ORM query cost more CPU (about
    0.4 ms) than running it, on every request. Revocation still takes effect at once."""
    parts = [rowsql.columns(ApiKey, "k", db), rowsql.columns(Program, "p", db)]
    sql = (
        f"SELECT {', '.join(parts[0].sql + parts[1].sql)}"
        f" FROM {ApiKey._meta.db_table} k JOIN {Program._meta.db_table} p ON p.id = k.program_id"
        " WHERE k.key_hash = %s AND k.revoked_at IS NULL"
    )
    return sql, parts


def api_key_active(key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash and its program (one statement), or None."""
    db = router.db_for_read(ApiKey)
    sql, parts = _key_query(db)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    key, program = rowsql.split(row, parts, db)
    assert isinstance(key, ApiKey) and isinstance(program, Program)
    key.program = program
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        key = api_key_active(hash_api_key(raw.strip()))
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
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
    """API_RATE_LIMIT ("N/period") per API key (staff sessions are throttled per user), kept in
    the Django cache: per process with the default local-memory cache, shared by every process
    with REDIS_CACHE_URL.

    A token bucket (the generic cell rate algorithm): a burst of up to N requests, refilled at
    N per period, stored as one number per key (the time the bucket will be full again). DRF's
    own throttle reads and rewrites the list of every request time in the period on each
    request: O(N), about 0.3 ms at 6,000/min and 1.4 ms at 30,000 entries."""

    scope = "api_key"
    num_requests: int  # set by SimpleRateThrottle.__init__ from the rate
    duration: int  # seconds

    def get_cache_key(self, request: Request, view) -> str | None:
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            ident = f"key:{user.api_key.pk}"
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        interval = self.duration / self.num_requests  # one token comes back per interval
        # The bucket is empty once `full_at` is a whole period ahead of now.
        full_at = max(self.cache.get(key, now), now)
        self.retry_in = full_at + interval - self.duration - now
        if self.retry_in > 0:
            return False
        self.cache.set(key, full_at + interval, self.duration)
        return True

    def wait(self) -> float:
        """Seconds until the next token (at least 1: Retry-After is whole seconds)."""
        return max(1.0, self.retry_in)


from ledger.api import schema as _schema  # noqa: E402,F401  (registers the OpenAPI auth schemes)
