"""The integration settings' API shapes (SPEC section 13)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.platform.api.serializers import (
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
)
from rules.billing.models import Integration


class IntegrationUpdateSerializer(StrictSerializer):
    signing_secret = StrictCharField(
        required=False,
        write_only=True,
        trim_whitespace=True,
        max_length=500,
        help_text="The webhook signing secret (Stripe `whsec_…`, Paddle's notification "
        "destination secret key). Stored encrypted, never returned. Required the first time; "
        "left out, the stored secret is kept.",
    )
    refund_policy = serializers.ChoiceField(
        choices=Integration.RefundPolicy.choices,
        default=Integration.RefundPolicy.REVERSE_OR_CLAWBACK,
        help_text="`reverse_or_clawback`: refunds reverse unpaid rewards and claw back paid "
        "ones (partially for a partial refund); `record_only`: the refund event is recorded, "
        "no reward moves.",
    )
    mapping = JSONObjectField(
        required=False,
        default=dict,
        help_text='Optional: `{"event_types": {"purchase": "<trigger>", ...}, '
        '"metadata_keys": {"click_id": "<your metadata key>", ...}}`.',
    )
    active = StrictBooleanField(required=False)


class SecretStateSerializer(serializers.Serializer):
    set = serializers.BooleanField()
    hint = serializers.CharField(help_text="The secret's last 4 characters, masked.")


class IntegrationSerializer(serializers.Serializer):
    provider = serializers.CharField()
    signing_secret = serializers.SerializerMethodField()
    refund_policy = serializers.CharField()
    mapping = serializers.JSONField()
    active = serializers.BooleanField()
    webhook_path = serializers.SerializerMethodField(
        help_text="Where the provider sends its webhooks (append to this server's origin)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(SecretStateSerializer)
    def get_signing_secret(self, obj: Integration) -> dict[str, Any]:
        return {"set": bool(obj.signing_secret_encrypted), "hint": obj.secret_hint}

    @extend_schema_field(OpenApiTypes.STR)
    def get_webhook_path(self, obj: Integration) -> str:
        return f"/hooks/{obj.provider}/{obj.program.slug}"


class HookAcceptedSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    delivery = serializers.IntegerField()
