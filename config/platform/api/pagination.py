from django.core.exceptions import FieldDoesNotExist
from django.db import models
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination as _CursorPagination

from config.platform.api.serializers import aware_time
from config.platform.exceptions import ValidationFailed

_BIGINT = 2**63


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "Invalid cursor: pass a `next` or `previous` link's cursor unchanged.",
        errors=[{"field": "cursor", "message": "invalid cursor"}],
    )


class CursorPagination(_CursorPagination):
    """`{"next", "previous", "results"}` with opaque cursors; newest first (SPEC §1).

    A cursor the client altered is 400 `validation_error` (a bad query parameter), not DRF's
    404: the page exists, the request is wrong. Its position is checked against the ordering
    field, since it goes into the query (an impossible time or a NUL was a 500 there)."""

    ordering: tuple[str, ...] = ("-created_at", "-pk")
    page_size_query_param = "limit"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        except UnicodeError:  # base64 of bytes that are not ASCII
            raise _invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, raw: object) -> None:
        position = str(raw)
        if "\x00" in position:
            raise _invalid_cursor()
        model = getattr(self, "_model", None)
        if model is None:
            return
        try:
            field = model._meta.get_field(self.ordering[0].lstrip("-"))
        except FieldDoesNotExist:
            return
        if isinstance(field, models.DateTimeField):
            if aware_time(position) is None:
                raise _invalid_cursor()
        elif isinstance(field, models.IntegerField | models.AutoField):
            try:
                number = int(position)
            except ValueError:
                raise _invalid_cursor() from None
            if not -_BIGINT <= number < _BIGINT:
                raise _invalid_cursor()
