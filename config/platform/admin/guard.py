"""A change list action given ids that are not ids of its model is refused, for every admin.

Django's admin filters the selection with `pk__in=<the posted _selected_action values>` and
hands the queryset to the action: a value the primary key cannot be (`abc` or NUL for an integer
key, anything but a UUID for a transaction, beyond 64 bits on SQLite) raised while the action
read the queryset, a 500 on
every change list with actions (Django's own `delete_selected` on users included). Here such a
selection is refused with a message, and nothing runs, on every ModelAdmin of the site, the
project's and Django's alike, as installed by ledger/admin.py.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

REFUSED = "Nothing was done: the selection holds something that is not a row of this list."


def selection_is_valid(model_admin: admin.ModelAdmin, request: HttpRequest) -> bool:
    """Whether every selected value is a value of the model's primary key."""
    field = model_admin.model._meta.pk
    for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
        try:
            pk = field.to_python(value)
        except ValidationError:
            return False
        # SQLite cannot even bind an integer beyond 64 bits (OverflowError): no row has one.
        if isinstance(pk, int) and not -(2**63) <= pk < 2**63:
            return False
    return True


_response_action = admin.ModelAdmin.response_action


def _guarded_response_action(
    self: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, *args: Any, **kwargs: Any
):
    # None sends the user back to the change list (Django's "action failed" path).
    if not selection_is_valid(self, request):
        self.message_user(request, REFUSED, messages.WARNING)
        return None
    return _response_action(self, request, queryset, *args, **kwargs)


def install() -> None:
    """Refuse malformed selections on every ModelAdmin (idempotent)."""
    method: Any = _guarded_response_action
    admin.ModelAdmin.response_action = method  # type: ignore[method-assign]
