"""API keys and the service identities they act as (SPEC §1)."""

from __future__ import annotations

import re
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from config.platform.audit import audit_record
from config.platform.exceptions import PermissionDenied, ValidationFailed
from config.platform.models import ApiKey, Program, hash_api_key

SERVICE_NAME_RE = re.compile(r"^[\w.@+-]+\Z", re.ASCII)


API_CLIENTS_GROUP = "api clients"


KEY_MANAGERS_GROUP = "key managers"


def service_identity_name(program: Program) -> str:
    """The service identity `create_api_key <slug>` uses by default: `api-<slug>`."""
    return f"api-{program.slug}"


def is_service_identity(user: User) -> bool:
    """A user that is not a person: not staff, not superuser, no usable password (it cannot
    log in anywhere; it exists to own API keys)."""
    return not (
        getattr(user, "is_staff", False)
        or getattr(user, "is_superuser", False)
        or user.has_usable_password()
    )


def service_identity_get_or_create(
    *, username: str, groups: tuple[str, ...] = ()
) -> tuple[User, bool]:
    """The named service identity, created (non-staff, unusable password) in `groups` (default:
    "api clients") when it does not exist; an existing one keeps its groups and is added to
    those named. A name that belongs to a person is refused: a key made this way must never act
    as someone who can log in."""
    UserModel = get_user_model()
    if not username or len(username) > 150 or not SERVICE_NAME_RE.match(username):
        raise ValidationFailed(
            f"Service identity names are 1-150 letters, digits and @ . + - _, not {username!r}."
        )
    with transaction.atomic():
        user = UserModel.objects.filter(**{UserModel.USERNAME_FIELD: username}).first()
        created = user is None
        if created and not groups:
            groups = (API_CLIENTS_GROUP,)
        wanted = list(Group.objects.filter(name__in=groups))
        missing = set(groups) - {g.name for g in wanted}
        if missing:
            raise ValidationFailed(f"No group named {sorted(missing)[0]!r}.")
        if user is None:
            user = UserModel.objects.create_user(username=username, password=None)
        elif not is_service_identity(user):
            raise ValidationFailed(
                f"{username!r} is a person's account (staff or with a password), not a service "
                "identity: name another, or give the key to that person with --owner."
            )
        user.groups.add(*wanted)
    return user, created


def api_key_create(
    *,
    program: Program,
    owner: User | None = None,
    name: str = "",
    actor: str = "system",
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Make a key that acts as `owner` and return it with its raw value, which is never stored
    or shown again.

    `created_by` is the person creating it (the admin): they need the right to (a superuser,
    or `ledger.add_apikey`, the "key managers" group), and make keys for themself only; a
    superuser may also make one for a service identity. Without `created_by` the caller is
    trusted (a management command run on the server, the demo seed, tests) and the owner
    defaults to the program's service identity, `api-<slug>`. The audit entry names both:
    who created the key (its actor) and for whom (`owner`)."""
    if created_by is not None:
        actor = f"user:{created_by.get_username()}"
        if not (
            getattr(created_by, "is_active", False) and created_by.has_perm("ledger.add_apikey")
        ):
            raise PermissionDenied(
                "Creating API keys is a right of its own: superusers and the key managers group."
            )
        owner = created_by if owner is None else owner
        if owner.pk != created_by.pk and not (
            getattr(created_by, "is_superuser", False) and is_service_identity(owner)
        ):
            raise PermissionDenied(
                "A key acts as its owner: create keys for yourself; only a superuser may create "
                "one for a service identity."
            )
    if owner is None:
        owner, _ = service_identity_get_or_create(username=service_identity_name(program))
    if not getattr(owner, "is_active", False):
        raise ValidationFailed(f"{owner.get_username()} is inactive; its key would not work.")
    raw = f"rl_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            program=program, owner=owner, name=name, prefix=raw[:10], key_hash=hash_api_key(raw)
        )
        audit_record(
            program=program,
            actor=actor,
            action="api_key.created",
            object_type="api_key",
            object_id=key.pk,
            after={
                "name": name,
                "prefix": key.prefix,
                "owner": key.actor,
                "service_identity": is_service_identity(owner),
            },
        )
    return key, raw


def api_key_revoke(*, api_key: ApiKey, actor: str, reason: str = "") -> ApiKey:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit_record(
                program=key.program,
                actor=actor,
                action="api_key.revoked",
                object_type="api_key",
                object_id=key.pk,
                before={"revoked_at": None},
                after={"revoked_at": key.revoked_at},
                reason=reason,
            )
    return key
