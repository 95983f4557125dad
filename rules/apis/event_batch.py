"""POST P/events/batch (SPEC §14): many events in one request, each with the semantics of
POST P/events. Thin: check the request's shape, validate each event, call one service, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.errors import flatten_errors, problem
from config.platform.api.serializers import StrictSerializer, rendered, validated
from config.platform.api.views import ProgramAPIView
from config.platform.exceptions import DomainError, ValidationFailed
from rules.event_explain import expand_event_traces
from rules.serializers import EventCreateSerializer, EventSerializer
from rules.services.event_ingest_batch import MAX_EVENTS, IngestResult, events_ingest_batch


class EventBatchSerializer(StrictSerializer):
    events = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=MAX_EVENTS,
        help_text=f"1 to {MAX_EVENTS} events, each a POST events body.",
    )


class EventBatchResultSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The event's id as sent (empty if it had none).")
    status = serializers.IntegerField(
        help_text="202 stored (new); 200 already stored with the same body; 4xx this event's "
        "error (400 validation_error, 422 idempotency_key_reused)."
    )
    event = EventSerializer(required=False, help_text="With a 2xx status.")
    error = serializers.DictField(
        required=False, help_text="With a 4xx status: a problem object (RFC 9457)."
    )


class EventBatchResponseSerializer(serializers.Serializer):
    results = EventBatchResultSerializer(many=True)


def _validated(raw: dict[str, Any]) -> dict[str, Any] | DomainError:
    try:
        return validated(EventCreateSerializer, raw)
    except serializers.ValidationError as exc:
        errors = flatten_errors(exc.detail)
        return ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )


def _result(raw: dict[str, Any], result: IngestResult) -> dict[str, Any]:
    event_id = raw.get("id") if isinstance(raw.get("id"), str) else ""
    if result.error is not None:
        exc = result.error
        body = problem(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
        )
        return {"id": event_id, "status": exc.status, "error": body}
    code = status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK
    return {"id": event_id, "status": code, "event": rendered(EventSerializer, result.event)}


class EventBatchApi(ProgramAPIView):
    required_permissions = {"POST": "rules.add_event"}

    @extend_schema(
        request=EventBatchSerializer,
        responses={202: EventBatchResponseSerializer},
        operation_id="events_batch_create",
        description=f"Store up to {MAX_EVENTS} events in one request, each exactly as POST "
        "events stores it (its `id` is its idempotency key; attributes merged with it; "
        "attribution); one bad event never blocks the others, it is answered on its own. 202 "
        "with one result per event, in order: 202 stored, 200 the same id and body were "
        "stored before, 400/422 that event's error. New events are processed in batches "
        "(one claim and one transaction per batch, a savepoint per event). The request "
        f"itself is 400 when `events` is not a list of objects, is empty or has more than "
        f"{MAX_EVENTS}.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(EventBatchSerializer, request.data)
        raws = data["events"]
        results = events_ingest_batch(
            program=self.program, items=[_validated(raw) for raw in raws], actor=self.actor
        )
        expand_event_traces(r.event for r in results if r.event is not None)
        return Response(
            {"results": [_result(raw, r) for raw, r in zip(raws, results, strict=True)]},
            status=status.HTTP_202_ACCEPTED,
        )
