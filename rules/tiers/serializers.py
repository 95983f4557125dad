"""The tiers API's shapes (GET/PUT P/tiers)."""

from __future__ import annotations

from rest_framework import serializers

from config.platform.api.serializers import StrictSerializer


class TierCriteriaSerializer(serializers.Serializer):
    window_days = serializers.IntegerField(
        required=False, help_text="The rolling window, in days (1-3660; default 90)."
    )
    min_referred_revenue = serializers.IntegerField(
        required=False,
        help_text="Net revenue of the people the partner referred, minor units of the "
        "program currency (purchases and subscription payments, less refunds).",
    )
    min_conversions = serializers.IntegerField(
        required=False, help_text="Purchases and subscription payments by referred people."
    )
    min_active_referrals = serializers.IntegerField(
        required=False, help_text="Referred people who had any event in the window."
    )


class TierSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='What rules compare with: referrer.tier equals "gold".')
    name = serializers.CharField()
    rank = serializers.IntegerField(help_text="Higher is better; the highest tier met wins.")
    criteria = TierCriteriaSerializer(
        help_text="Every criterion given must be met; none given: every partner's floor."
    )


class TiersSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="The currency of min_referred_revenue.")
    tiers = TierSerializer(many=True)


class TiersPutSerializer(StrictSerializer):
    # Checked whole by the service (rules.tiers.services.tiers_replace): each tier's keys,
    # types and bounds, with a message naming the field.
    tiers = serializers.ListField(
        child=serializers.JSONField(), max_length=50, help_text="At most 50 tiers."
    )
