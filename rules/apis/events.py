"""Events: durable intents, processed after commit."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import rendered, rendered_many, validated
from config.platform.api.views import ProgramAPIView
from rules import selectors
from rules.event_explain import event_explanation, expand_event_traces
from rules.serializers import EventCreateSerializer, EventSerializer
from rules.services.events import event_ingest


class EventListApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_event", "POST": "rules.add_event"}

    @extend_schema(
        parameters=[
            OpenApiParameter("type", OpenApiTypes.STR, description="only events of this type"),
            OpenApiParameter("status", OpenApiTypes.STR, description="only this status"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="page size (max 500)"),
        ],
        responses=EventSerializer(many=True),
        description="Recent events, newest first.",
    )
    def get(self, request: Request, program: str) -> Response:
        qs = selectors.event_list(
            program=self.program,
            event_type=request.query_params.get("type"),
            status=request.query_params.get("status"),
        )
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        expand_event_traces(page)
        return paginator.get_paginated_response(rendered_many(EventSerializer, page))

    @extend_schema(
        request=EventCreateSerializer,
        responses={202: EventSerializer, 200: EventSerializer},
        description="Store the event and merge `attributes` into the user's profile in one "
        "transaction; it is processed after commit. The `id` is the idempotency key: the same "
        "id and body again is 200 with the stored event, another body 422 "
        "`idempotency_key_reused`. With `click_id` or `coupon`, a user without a referrer "
        "gets one in the same transaction; `attribution` says what came of it: `attributed`, "
        "or `expired`, `unknown`, `self`, `already_referred`, `cycle` with a `reason`.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(EventCreateSerializer, request.data)
        event, created = event_ingest(
            program=self.program,
            event_id=data["id"],
            type=data["type"],
            user=data["user"],
            occurred_at=data["occurred_at"],
            attributes=data["attributes"],
            data=data["data"],
            click_id=data["click_id"],
            coupon=data["coupon"],
            actor=self.actor,
        )
        if created and not settings.CELERY_BROKER_URL:
            # Processed inline on commit: show the stored state. Otherwise the event is as
            # stored (a repeat is read back by event_ingest; a new one is what it inserted).
            event = selectors.event_get(program=self.program, event_id=event.event_id)
        expand_event_traces([event])
        return Response(
            rendered(EventSerializer, event),
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class EventDetailApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_event"}

    @extend_schema(
        responses=EventSerializer,
        description="The event as stored; each evaluated rule's `trace` in `results` is the "
        'list of `{"path", "field", "operator", "expected", "actual", "result"}` per leaf '
        "(events store it compactly; it is rebuilt from the rule version on read).",
    )
    def get(self, request: Request, program: str, event_id: str) -> Response:
        event = selectors.event_get(program=self.program, event_id=event_id)
        expand_event_traces([event])
        return Response(rendered(EventSerializer, event))


class EventExplainApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_event"}

    @extend_schema(
        responses=inline_serializer(
            "EventExplanation",
            {
                "event": serializers.CharField(),
                "status": serializers.CharField(
                    help_text="the event's status, as in GET P/events/{id}"
                ),
                "sentences": serializers.ListField(child=serializers.CharField()),
                "rules": inline_serializer(
                    "EventRuleExplanation",
                    {
                        "rule": serializers.IntegerField(allow_null=True),
                        "name": serializers.CharField(),
                        "version": serializers.IntegerField(allow_null=True),
                        "outcome": serializers.ChoiceField(
                            choices=["matched", "not_matched", "suppressed", "skipped"]
                        ),
                        "sentence": serializers.CharField(),
                    },
                    many=True,
                ),
            },
        ),
        description="Why the event paid, or did not, in plain sentences: a summary, then one "
        "sentence per active rule of its trigger, in priority order, with its `outcome`: "
        "`matched` (what it paid, to whom, each reward's id and status), `not_matched` (the "
        "conditions that failed, money in major units of the program currency), "
        "`suppressed` (a higher rule with `stop_processing` matched first), or `skipped` (the "
        "version's `active_from`/`active_until` excludes the event's `occurred_at`). An "
        "event not processed yet, or failed, has a summary and no rules.",
    )
    def get(self, request: Request, program: str, event_id: str) -> Response:
        event = selectors.event_get(program=self.program, event_id=event_id)
        event.program = self.program
        return Response(event_explanation(event))
