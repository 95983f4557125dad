"""Who may do what is a state change too (SPEC §8): users, groups, group membership and
permission assignments reach the audit log, whether they change through the admin or the ORM.
`config.platform.signals` hands Django's model signals to these functions and does nothing else.

Entries have no program (access is site-wide), `object_type` "user" or "group" and the
username or group name as `object_id`; `before`/`after` hold only what changed. A password is
never stored, not even its hash: a new one shows as `"password": "changed"`. Bulk writes that
send no signals (`QuerySet.update`, raw SQL) are not seen here.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Model

from config.platform.audit import audit_record, current_actor

# What a user row says about access. Not last_login (every login writes it) nor the password
# (compared, never copied).
USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
)
GROUP_FIELDS = ("name",)
_SNAPSHOT = "_access_audit_before"
_CLEARED = "_access_audit_cleared"


def _fields(model: type[Model]) -> tuple[str, ...]:
    return GROUP_FIELDS if issubclass(model, Group) else USER_FIELDS


def _object(instance: Model) -> tuple[str, str]:
    if isinstance(instance, Group):
        return "group", instance.name
    return "user", instance.get_username()  # type: ignore[attr-defined]


def _label(obj: Model) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, Group):
        return obj.name
    return obj.get_username()  # type: ignore[attr-defined]


def access_before_save(instance: Model) -> None:
    """Remember the stored row (pre_save), to audit only what the save changes."""
    model = type(instance)
    columns = [*_fields(model), *(["password"] if not isinstance(instance, Group) else [])]
    row = model._default_manager.filter(pk=instance.pk).values(*columns).first()  # type: ignore[attr-defined]
    setattr(instance, _SNAPSHOT, row)


def access_saved(instance: Model, *, created: bool, update_fields: Any = None) -> None:
    """Audit a created or changed user or group (post_save)."""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login, not a change of access
    object_type, object_id = _object(instance)
    fields = _fields(type(instance))
    now = {f: getattr(instance, f) for f in fields}
    stored = getattr(instance, _SNAPSHOT, None)
    if created or stored is None:
        audit_record(
            program=None,
            actor=current_actor(),
            action=f"{object_type}.created",
            object_type=object_type,
            object_id=object_id,
            after=now,
        )
        return
    before = {f: stored[f] for f in fields if stored[f] != now[f]}
    after = {f: now[f] for f in before}
    if "password" in stored and stored["password"] != getattr(instance, "password", None):
        before["password"], after["password"] = "(not shown)", "changed"
    setattr(instance, _SNAPSHOT, {**stored, **now, "password": getattr(instance, "password", "")})
    if not after:
        return
    audit_record(
        program=None,
        actor=current_actor(),
        action=f"{object_type}.updated",
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )


def access_deleted(instance: Model) -> None:
    """Audit a deleted user or group (post_delete)."""
    object_type, object_id = _object(instance)
    audit_record(
        program=None,
        actor=current_actor(),
        action=f"{object_type}.deleted",
        object_type=object_type,
        object_id=object_id,
        before={f: getattr(instance, f) for f in _fields(type(instance))},
    )


# The many-to-many relations that grant access: through model → (owner model, attribute, noun).
def _relations() -> dict[type[Model], tuple[type[Model], str, str]]:
    user = get_user_model()
    return {
        user.groups.through: (user, "groups", "groups"),
        user.user_permissions.through: (user, "user_permissions", "permissions"),
        Group.permissions.through: (Group, "permissions", "permissions"),
    }


def access_relation_changed(
    *, through: type[Model], instance: Model, action: str, reverse: bool, pk_set: Any
) -> None:
    """Audit group membership and permission assignments (m2m_changed), from either side:
    `user.groups.add(g)` and `g.user_set.add(user)` both give the user an entry."""
    relation = _relations().get(through)
    if relation is None:
        return
    owner_model, attribute, noun = relation
    related_model = owner_model._meta.get_field(attribute).related_model  # type: ignore[union-attr]
    if action == "pre_clear":
        # What the clear will remove, read before it does.
        if reverse:
            owners = list(owner_model._default_manager.filter(**{attribute: instance}))  # type: ignore[attr-defined]
            cleared = {o.pk: [_label(instance)] for o in owners}
        else:
            cleared = {instance.pk: [_label(o) for o in getattr(instance, attribute).all()]}
        setattr(instance, _CLEARED + attribute, cleared)
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        changes = getattr(instance, _CLEARED + attribute, {})
    elif reverse:
        changes = {pk: [_label(instance)] for pk in pk_set or ()}
    else:
        objects = related_model._default_manager.filter(pk__in=pk_set or ())  # type: ignore[union-attr]
        changes = {instance.pk: sorted(_label(o) for o in objects)}
    removed = action != "post_add"
    for owner_pk, labels in changes.items():
        if not labels:
            continue
        owner = instance if not reverse else owner_model._default_manager.get(pk=owner_pk)  # type: ignore[attr-defined]
        object_type, object_id = _object(owner)
        now = sorted(_label(o) for o in getattr(owner, attribute).all())
        was = sorted(set(now) | set(labels)) if removed else sorted(set(now) - set(labels))
        audit_record(
            program=None,
            actor=current_actor(),
            action=f"{object_type}.{noun}_{'removed' if removed else 'added'}",
            object_type=object_type,
            object_id=object_id,
            before={noun: was},
            after={noun: now},
        )
