"""Signal receivers that hand changes of access (users, groups, memberships, permissions) to
the audit service, and nothing else (config.platform.access_audit). Connected in
LedgerConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from config.platform import access_audit


def _before_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login: not audited, so not read either
    if not raw and instance.pk is not None:
        access_audit.access_before_save(instance)


def _saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        access_audit.access_saved(
            instance, created=created, update_fields=kwargs.get("update_fields")
        )


def _deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    access_audit.access_deleted(instance)


def _relation_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    access_audit.access_relation_changed(
        through=sender, instance=instance, action=action, reverse=reverse, pk_set=pk_set
    )


def connect_access_audit() -> None:
    user = get_user_model()
    for model in (user, Group):
        uid = f"access-audit-{model._meta.label_lower}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}-pre")
        post_save.connect(_saved, sender=model, dispatch_uid=f"{uid}-post")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"{uid}-delete")
    for through in (user.groups.through, user.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(
            _relation_changed,
            sender=through,
            dispatch_uid=f"access-audit-{through._meta.label_lower}",
        )
