from rest_framework.pagination import CursorPagination as _CursorPagination


class CursorPagination(_CursorPagination):
    """`{"next", "previous", "results"}` with opaque cursors; newest first (SPEC §1)."""

    ordering = ("-created_at", "-pk")
    page_size_query_param = "limit"
    max_page_size = 500
