"""API authentication: program-scoped bearer keys, or a staff user's Django session."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from config.platform import rowsql
from config.platform.db import prepared_cursor
from config.platform.models import ApiKey, Program, hash_api_key


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """request.user for a request made with an API key: the key's owner, acting through it.
    Its actor is the owner's (`user:<username>`) and its permissions are the owner's, read with
    the key (superusers have them all)."""

    api_key: ApiKey
    permissions: frozenset[str] = field(default=frozenset(), repr=False)
    is_authenticated: bool = True
    is_staff: bool = False
    is_active: bool = True

    @property
    def actor(self) -> str:
        return self.api_key.actor

    @property
    def pk(self) -> int:
        return self.api_key.pk

    @property
    def owner(self) -> AbstractBaseUser:
        return self.api_key.owner

    def get_username(self) -> str:
        return self.owner.get_username()

    def has_perm(self, perm: str) -> bool:
        return bool(getattr(self.owner, "is_superuser", False)) or perm in self.permissions


def _owner_permissions_sql(db: str, user_column: str) -> str:
    """A scalar subquery: the permissions of the user `user_column` names, from their groups
    and their own, as one comma-separated text of "app_label.codename" (what Django's
    ModelBackend, the only authentication backend here, reads with two queries)."""
    User = get_user_model()
    user_perms = User._meta.get_field("user_permissions").remote_field.through._meta.db_table  # type: ignore[union-attr]
    user_groups = User._meta.get_field("groups").remote_field.through._meta.db_table  # type: ignore[union-attr]
    group_perms = Group.permissions.through._meta.db_table
    label = "ct.app_label || '.' || p.codename"
    joined = (
        f"string_agg({label}, ',')"
        if connections[db].vendor == "postgresql"
        else f"group_concat({label}, ',')"
    )
    return (
        f"(SELECT {joined} FROM {Permission._meta.db_table} p"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
        f" WHERE p.id IN (SELECT permission_id FROM {user_perms} WHERE user_id = {user_column}"
        f" UNION SELECT gp.permission_id FROM {group_perms} gp"
        f" JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = {user_column}))"
    )


@functools.cache
def _key_query(db: str) -> tuple[str, list[rowsql.Columns]]:
    """The SQL of `ApiKey.objects.select_related("program", "owner").get(key_hash=...,
    revoked_at=None, owner__is_active=True)` plus the owner's permissions, and how to read its
    row back, built once: compiling those ORM queries cost more CPU (about 0.4 ms each) than
    running them, on every request. Revocation, deactivating the owner and changing their
    groups take effect at once."""
    User = get_user_model()
    parts = [
        rowsql.columns(ApiKey, "k", db),
        rowsql.columns(Program, "p", db),
        rowsql.columns(User, "u", db),
    ]
    columns = [*parts[0].sql, *parts[1].sql, *parts[2].sql, _owner_permissions_sql(db, "u.id")]
    sql = (
        f"SELECT {', '.join(columns)}"
        f" FROM {ApiKey._meta.db_table} k JOIN {Program._meta.db_table} p ON p.id = k.program_id"
        f" JOIN {User._meta.db_table} u ON u.id = k.owner_id"
        " WHERE k.key_hash = %s AND k.revoked_at IS NULL AND u.is_active"
    )
    return sql, parts


def api_key_principal(key_hash: str) -> ApiKeyPrincipal | None:
    """The unrevoked key with this hash, its program, its active owner and the owner's
    permissions (one statement), or None."""
    db = router.db_for_read(ApiKey)
    sql, parts = _key_query(db)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    key, program, owner = rowsql.split(row[:-1], parts, db)
    assert isinstance(key, ApiKey) and isinstance(program, Program) and owner is not None
    key.program = program
    key.owner = owner  # type: ignore[assignment]
    permissions = frozenset(row[-1].split(",")) if row[-1] else frozenset()
    return ApiKeyPrincipal(key, permissions)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        principal = api_key_principal(hash_api_key(raw.strip()))
        if principal is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return principal, principal.api_key

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


from config.platform.api import schema as _schema  # noqa: E402,F401  (registers the OpenAPI auth schemes)
