"""The audit log (SPEC §8): read-only, filtered, cursor-paginated."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import query_time, rendered_many
from config.platform.api.views import ProgramAPIView
from config.platform.models import AuditEntry
from config.platform.selectors import AUDIT_EXACT_FILTERS, audit_entry_list


class AuditPagination(CursorPagination):
    ordering = ("-at", "-pk")


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
            "reason",
            "request_id",
        ]


class AuditLogApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_auditentry"}

    @extend_schema(
        parameters=[
            *(
                OpenApiParameter(name, OpenApiTypes.STR, description="exact match")
                for name in AUDIT_EXACT_FILTERS
            ),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="entries at or after"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="entries before"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="page size (max 500)"),
        ],
        responses=AuditEntrySerializer(many=True),
        description="Every state change of the program, newest first.",
    )
    def get(self, request: Request, program: str) -> Response:
        params = request.query_params
        qs = audit_entry_list(
            program=self.program,
            match={name: params[name] for name in AUDIT_EXACT_FILTERS if name in params},
            since=query_time("since", params["since"]) if "since" in params else None,
            until=query_time("until", params["until"]) if "until" in params else None,
        )
        paginator = AuditPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(rendered_many(AuditEntrySerializer, page))
