"""API authentication: program-scoped bearer keys, or a staff user's Django session."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group, Permission
from django.db import router
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from ledger import rowsql
from ledger.db import prepared_cursor
from ledger.models import ApiKey, Program, hash_api_key


@dataclass
class ApiKeyPrincipal:
    """request.user for a request made with an API key: the key's owner, acting through it.
    Its actor is the owner's (`user:<username>`) and its permissions are the owner's, read
    once per request (superusers have them all)."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False
    is_active: bool = True
    _perms: frozenset[str] | None = field(default=None, repr=False)

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
        if getattr(self.owner, "is_superuser", False):
            return True
        if self._perms is None:
            self._perms = owner_permissions(self.owner.pk)
        return perm in self._perms


@functools.cache
def _key_query(db: str) -> tuple[str, list[rowsql.Columns]]:
    """The SQL of `ApiKey.objects.select_related("program", "owner").get(key_hash=...,
    revoked_at=None, owner__is_active=True)` and how to read its row back, built once:
    compiling that ORM query cost more CPU (about 0.4 ms) than running it, on every request.
    Revocation (and deactivating the owner) still takes effect at once."""
    User = get_user_model()
    parts = [
        rowsql.columns(ApiKey, "k", db),
        rowsql.columns(Program, "p", db),
        rowsql.columns(User, "u", db),
    ]
    sql = (
        f"SELECT {', '.join(parts[0].sql + parts[1].sql + parts[2].sql)}"
        f" FROM {ApiKey._meta.db_table} k JOIN {Program._meta.db_table} p ON p.id = k.program_id"
        f" JOIN {User._meta.db_table} u ON u.id = k.owner_id"
        " WHERE k.key_hash = %s AND k.revoked_at IS NULL AND u.is_active"
    )
    return sql, parts


def api_key_active(key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash, its program and its active owner (one statement), or
    None."""
    db = router.db_for_read(ApiKey)
    sql, parts = _key_query(db)
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    key, program, owner = rowsql.split(row, parts, db)
    assert isinstance(key, ApiKey) and isinstance(program, Program) and owner is not None
    key.program = program
    key.owner = owner  # type: ignore[assignment]
    return key


@functools.cache
def _permissions_query(db: str) -> str:
    """What Django's ModelBackend.get_all_permissions reads (the user's own permissions and
    their groups'), as one statement of "app_label.codename" rows."""
    User = get_user_model()
    user_perms = User._meta.get_field("user_permissions").remote_field.through._meta.db_table  # type: ignore[union-attr]
    user_groups = User._meta.get_field("groups").remote_field.through._meta.db_table  # type: ignore[union-attr]
    group_perms = Group.permissions.through._meta.db_table
    return (
        "SELECT ct.app_label, p.codename FROM auth_permission p"
        " JOIN django_content_type ct ON ct.id = p.content_type_id"
        f" WHERE p.id IN (SELECT permission_id FROM {user_perms} WHERE user_id = %s"
        f" UNION SELECT gp.permission_id FROM {group_perms} gp"
        f" JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s)"
    )


def owner_permissions(user_id: int) -> frozenset[str]:
    """The permissions ("ledger.add_reward", ...) of an API key's owner, from their groups
    and their own. Django's ModelBackend is the only authentication backend here (settings);
    a superuser needs no lookup (ApiKeyPrincipal.has_perm)."""
    db = router.db_for_read(Permission)
    with prepared_cursor(db) as cursor:
        cursor.execute(_permissions_query(db), [user_id, user_id])
        return frozenset(f"{app}.{codename}" for app, codename in cursor.fetchall())


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
