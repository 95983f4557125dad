"""Users and groups in the console: Django's own admins, with every change they make audited
as made by the signed-in operator (the signal receivers in config.platform.signals read the actor that
these views set; changes made elsewhere are audited as "system")."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from config.platform.admin.common import actor_of
from config.platform.audit import acting_as


class ActingOperatorMixin:
    """Every view that can write (add/change form, delete page, change list actions, password
    change) runs as the signed-in operator for the audit log."""

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any):
        with acting_as(actor_of(request)):
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any):
        with acting_as(actor_of(request)):
            return super().delete_view(request, *args, **kwargs)  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any):
        with acting_as(actor_of(request)):
            return super().changelist_view(request, *args, **kwargs)  # type: ignore[misc]


User = get_user_model()
for model in (User, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class AuditedUserAdmin(ActingOperatorMixin, UserAdmin):
    def user_change_password(self, request: HttpRequest, *args: Any, **kwargs: Any):
        with acting_as(actor_of(request)):
            return super().user_change_password(request, *args, **kwargs)


@admin.register(Group)
class AuditedGroupAdmin(ActingOperatorMixin, GroupAdmin):
    pass
