"""Input and output shapes of the referrals, events and rules API (SPEC §6). Input serializers
check shape and types only; rule definitions are checked by rules.validation in the service."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.platform.api.serializers import (
    JSONObjectField,
    ParticipantIdField,
    StrictSerializer,
    aware_time,
)
from rules.models import Event, Participant, Rule, RuleVersion


class StrictPositiveIntegerField(serializers.IntegerField):
    def __init__(self, **kwargs: Any):
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class AwareDateTimeField(serializers.DateTimeField):
    """An RFC 3339 time with a timezone (`ledger.serializers.aware_time`), in UTC."""

    default_error_messages = {
        "naive": "Give a timezone (RFC 3339), e.g. 2026-01-31T10:00:00Z.",
        "invalid": "Must be an RFC 3339 time with a timezone (a real date, a UTC offset of at "
        "most ±15:59), e.g. 2026-01-31T10:00:00Z.",
    }

    def to_internal_value(self, value: Any):
        parsed = aware_time(value)
        if parsed is None:
            try:
                loose = parse_datetime(value) if isinstance(value, str) else None
            except ValueError:  # an impossible date
                loose = None
            self.fail("naive" if loose is not None and loose.tzinfo is None else "invalid")
        return parsed


# --- participants and referrals -----------------------------------------------------------


class ParticipantUpsertSerializer(StrictSerializer):
    attributes = JSONObjectField(required=False, default=dict)


class ParticipantSerializer(serializers.ModelSerializer):
    referred_by = serializers.SerializerMethodField()

    class Meta:
        model = Participant
        fields = ["external_id", "attributes", "referral_code", "referred_by", "tier", "created_at"]
        read_only_fields = ["tier"]  # set by the tier recompute (rules.tiers), never by a caller

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_referred_by(self, obj: Participant) -> str | None:
        referral = getattr(obj, "referral_received", None)
        return referral.referrer.external_id if referral else None


class ReferralCreateSerializer(StrictSerializer):
    referrer = ParticipantIdField(required=False)
    referral_code = serializers.CharField(max_length=32, required=False)
    click_id = serializers.CharField(max_length=64, required=False)
    coupon = serializers.CharField(max_length=40, required=False)
    referred = ParticipantIdField()


class ReferralSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    referrer = serializers.CharField(source="referrer.external_id")
    referral_code = serializers.CharField(source="referrer.referral_code")
    referred = serializers.CharField(source="referred.external_id")
    created_at = serializers.DateTimeField()


# --- events -------------------------------------------------------------------------------


class EventCreateSerializer(StrictSerializer):
    id = serializers.CharField(max_length=255)
    type = serializers.CharField(max_length=100)
    user = ParticipantIdField()
    occurred_at = AwareDateTimeField(required=False, default=None)
    attributes = JSONObjectField(required=False, default=dict)
    # DRF moves declared fields off the class, so `data` does not shadow Serializer.data.
    data = JSONObjectField(required=False, default=dict)  # type: ignore[assignment]
    # Attribution (SPEC section 11): a user without a referrer gets one from either.
    click_id = serializers.CharField(max_length=64, required=False, default=None)
    coupon = serializers.CharField(max_length=40, required=False, default=None)


class EventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="event_id")
    user = serializers.CharField(source="participant.external_id")
    received_at = serializers.DateTimeField(source="created_at")
    results = serializers.JSONField()
    refund = serializers.JSONField()
    attribution = serializers.JSONField()

    class Meta:
        model = Event
        fields = [
            "id",
            "type",
            "user",
            "occurred_at",
            "attributes",
            "data",
            "status",
            "attempts",
            "results",
            "refund",
            "attribution",
            "error",
            "received_at",
            "processed_at",
            "next_attempt_at",
        ]


class TestEventSerializer(StrictSerializer):
    """An event as POST events takes it; the id is optional because nothing is stored."""

    id = serializers.CharField(max_length=255, required=False)
    type = serializers.CharField(max_length=100)
    user = ParticipantIdField()
    occurred_at = AwareDateTimeField(required=False, default=None)
    attributes = JSONObjectField(required=False, default=dict)
    # DRF moves declared fields off the class, so `data` does not shadow Serializer.data.
    data = JSONObjectField(required=False, default=dict)  # type: ignore[assignment]


# --- rules --------------------------------------------------------------------------------


class RuleSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="latest_version")
    active_version = serializers.SerializerMethodField()
    definition = serializers.SerializerMethodField()

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "status",
            "version",
            "latest_version",
            "active_version",
            "trigger",
            "priority",
            "definition",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_active_version(self, obj: Rule) -> int | None:
        return obj.active_version.version if obj.active_version else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_definition(self, obj: Rule) -> dict:
        """The latest version's definition."""
        latest = self.context.get("latest")
        if latest is None or latest.rule_id != obj.pk:
            latest = RuleVersion.objects.get(rule=obj, version=obj.latest_version)
        return latest.definition

    def to_representation(self, instance: Rule) -> dict:
        data = super().to_representation(instance)
        if not data["trigger"]:  # never published: show the latest version's
            data["trigger"] = data["definition"].get("trigger", "")
            data["priority"] = data["definition"].get("priority", 0)
        return data


class RuleVersionSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()

    class Meta:
        model = RuleVersion
        fields = ["version", "definition", "created_at", "created_by", "active"]

    def get_active(self, obj: RuleVersion) -> bool:
        return obj.rule.active_version_id == obj.pk and obj.rule.status == Rule.Status.ACTIVE


class PublishSerializer(StrictSerializer):
    version = StrictPositiveIntegerField(required=False, default=None, allow_null=True)


class RuleTestSerializer(StrictSerializer):
    event = TestEventSerializer()
    version = StrictPositiveIntegerField(required=False, default=None, allow_null=True)


class SimulateSerializer(StrictSerializer):
    definition = serializers.JSONField()
    # "from" is a Python keyword: declared below under its JSON name.
    to = AwareDateTimeField()

    def get_fields(self) -> dict:
        fields = super().get_fields()
        fields["from"] = AwareDateTimeField()
        return fields


class DraftFromTextSerializer(StrictSerializer):
    text = serializers.CharField(max_length=2000)


class RuleTestUnsavedSerializer(StrictSerializer):
    definition = serializers.JSONField()
    event = TestEventSerializer()


# --- scenarios and publish requests (issue 15) ----------------------------------------------


class ExpectedRewardSerializer(StrictSerializer):
    beneficiary = serializers.ChoiceField(choices=["referrer", "referred", "parent"])
    amount = StrictPositiveIntegerField(max_value=10**15, help_text="minor units")
    currency = serializers.RegexField(r"^[A-Z]{3}\Z", required=False)


class StrictBooleanField(serializers.BooleanField):
    """true or false only (DRF's BooleanField also takes "yes", 1, "on")."""

    def to_internal_value(self, data: Any) -> bool:
        if type(data) is not bool:
            self.fail("invalid", input=data)
        return data


class ScenarioExpectSerializer(StrictSerializer):
    matched = StrictBooleanField()
    rewards = serializers.ListField(child=ExpectedRewardSerializer(), required=False, max_length=20)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["matched"] and attrs.get("rewards"):
            raise serializers.ValidationError(
                {"rewards": "a scenario that expects no match expects no rewards"}
            )
        return attrs


class ScenarioWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    event = TestEventSerializer()
    expect = ScenarioExpectSerializer()


class ScenarioSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    event = serializers.JSONField()
    expect = serializers.JSONField()
    last_result = serializers.JSONField(allow_null=True)
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ScenariosRunSerializer(StrictSerializer):
    definition = serializers.JSONField(required=False)


class RulePublishRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.IntegerField(source="rule_id")
    version = serializers.IntegerField(source="version.version")
    status = serializers.CharField()
    requested_by = serializers.CharField()
    decided_by = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class RejectSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class ResultsQuerySerializer(StrictSerializer):
    to = serializers.DateField(required=False, default=None)

    def get_fields(self) -> dict:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False, default=None)
        return fields
