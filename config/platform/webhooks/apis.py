"""Webhook endpoint management (docs/WEBHOOKS.md). Thin: validate, call one service, render."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import (
    StrictBooleanField,
    StrictSerializer,
    rendered,
    rendered_many,
    validated,
)
from config.platform.api.views import ProgramAPIView
from config.platform.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from config.platform.webhooks import endpoints, selectors, services
from config.platform.webhooks.events import webhook_event_types


class EventTypesField(serializers.ListField):
    """A list of registered webhook event types. The choices are read each time a serializer is
    made (DRF copies declared fields per serializer), not when this module is imported: the apps
    register their types at start-up (config.platform.webhooks.events)."""

    def __init__(self, *, described: bool = False, **kwargs) -> None:
        types = webhook_event_types()
        kwargs["child"] = serializers.ChoiceField(choices=types)
        if described:
            kwargs["help_text"] = "Event types to receive: " + ", ".join(types)
        super().__init__(**kwargs)


class EndpointCreateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2000, help_text="http(s) URL that receives POSTs")
    events = EventTypesField(allow_empty=False, described=True)
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    active = StrictBooleanField(required=False, default=True)


class EndpointUpdateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = EventTypesField(allow_empty=False, required=False, described=True)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = StrictBooleanField(required=False)
    rotate_secret = StrictBooleanField(
        required=False, default=False, help_text="Make a new signing secret (returned once)"
    )


class EndpointSerializer(serializers.ModelSerializer):
    events = EventTypesField()

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "active", "created_at", "updated_at"]


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="Signing secret, shown only in this response: store it now"
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class EndpointUpdatedSerializer(EndpointSerializer):
    """PATCH's answer: the endpoint, with `secret` only when the call rotated it."""

    secret = serializers.CharField(
        required=False,
        help_text="The new signing secret, only when `rotate_secret` was true (shown once: "
        "store it now)",
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class EndpointPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EndpointSerializer(many=True)


class DeliverySerializer(serializers.ModelSerializer):
    message = serializers.UUIDField(source="message_id")
    event_id = serializers.UUIDField(source="message.event_id")
    event_type = serializers.CharField(source="message.event_type")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "message",
            "event_id",
            "event_type",
            "attempt",
            "at",
            "status_code",
            "success",
            "response_excerpt",
            "error",
            "duration_ms",
        ]


class DeliveryPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DeliverySerializer(many=True)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookMessage
        fields = [
            "id",
            "event_id",
            "event_type",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]


class MessagePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MessageSerializer(many=True)


class RedeliverSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DeliveryPagination(CursorPagination):
    ordering = ("-at", "-pk")


class WebhookEndpointListApi(ProgramAPIView):
    required_permissions = {
        "GET": "ledger.view_webhookendpoint",
        "POST": "ledger.add_webhookendpoint",
    }

    @extend_schema(
        operation_id="webhook_endpoints_list",
        responses=EndpointPageSerializer,
        description="The program's endpoints.",
    )
    def get(self, request: Request, program: str) -> Response:
        qs = selectors.webhook_endpoint_list(program=self.program)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(rendered_many(EndpointSerializer, page))

    @extend_schema(
        request=EndpointCreateSerializer,
        responses={201: EndpointWithSecretSerializer},
        description="Register an endpoint. The response carries the signing `secret`, which is "
        "never shown again (rotate it with PATCH `rotate_secret`).",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(EndpointCreateSerializer, request.data)
        endpoint = endpoints.webhook_endpoint_create(program=self.program, actor=self.actor, **data)
        return Response(
            rendered(EndpointWithSecretSerializer, endpoint), status=status.HTTP_201_CREATED
        )


class WebhookEndpointDetailApi(ProgramAPIView):
    required_permissions = {
        "GET": "ledger.view_webhookendpoint",
        "PATCH": "ledger.change_webhookendpoint",
        "DELETE": "ledger.delete_webhookendpoint",
    }

    @extend_schema(responses=EndpointSerializer)
    def get(self, request: Request, program: str, pk: str) -> Response:
        endpoint = selectors.webhook_endpoint_get(program=self.program, pk=pk)
        return Response(rendered(EndpointSerializer, endpoint))

    @extend_schema(
        request=EndpointUpdateSerializer,
        responses=EndpointUpdatedSerializer,
        description="Change the given fields. `secret` is in the response only when "
        "`rotate_secret` is true.",
    )
    def patch(self, request: Request, program: str, pk: str) -> Response:
        endpoint = selectors.webhook_endpoint_get(program=self.program, pk=pk)
        data = validated(EndpointUpdateSerializer, request.data)
        endpoint = endpoints.webhook_endpoint_update(endpoint=endpoint, actor=self.actor, **data)
        out = EndpointWithSecretSerializer if data.get("rotate_secret") else EndpointSerializer
        return Response(out(endpoint).data)

    @extend_schema(responses={204: None}, description="Remove the endpoint and its messages.")
    def delete(self, request: Request, program: str, pk: str) -> Response:
        endpoint = selectors.webhook_endpoint_get(program=self.program, pk=pk)
        endpoints.webhook_endpoint_delete(endpoint=endpoint, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_webhookdelivery"}

    @extend_schema(
        responses=DeliveryPageSerializer, description="The endpoint's delivery log, newest first."
    )
    def get(self, request: Request, program: str, pk: str) -> Response:
        endpoint = selectors.webhook_endpoint_get(program=self.program, pk=pk)
        qs = selectors.webhook_delivery_list(endpoint=endpoint)
        paginator = DeliveryPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(rendered_many(DeliverySerializer, page))


class WebhookMessageListApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_webhookmessage"}

    @extend_schema(responses=MessagePageSerializer, description="Messages queued for the endpoint.")
    def get(self, request: Request, program: str, pk: str) -> Response:
        endpoint = selectors.webhook_endpoint_get(program=self.program, pk=pk)
        qs = selectors.webhook_message_list(endpoint=endpoint)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(rendered_many(MessageSerializer, page))


class WebhookMessageRedeliverApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.change_webhookmessage"}

    @extend_schema(
        request=RedeliverSerializer,
        responses={202: MessageSerializer},
        description="Send the message again (same event id) with a fresh retry budget.",
    )
    def post(self, request: Request, program: str, pk: str, message_id: str) -> Response:
        endpoint = selectors.webhook_endpoint_get(program=self.program, pk=pk)
        message = selectors.webhook_message_get(endpoint=endpoint, pk=message_id)
        data = validated(RedeliverSerializer, request.data or {})
        message = services.webhook_redeliver(
            message=message, actor=self.actor, reason=data["reason"]
        )
        return Response(rendered(MessageSerializer, message), status=status.HTTP_202_ACCEPTED)
