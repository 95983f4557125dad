"""Input and output shapes of the program settings and referral links API (SPEC section 11)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.platform.api.serializers import StrictCharField, StrictSerializer
from config.platform.currencies import MAX_AMOUNT
from config.platform.models import AttributionModel, PartnerSignup, Program
from rules.links.models import SLUG_PATTERN, ReferralLink


class StrictIntField(serializers.IntegerField):
    """A JSON integer only (no floats, strings or booleans)."""

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class ProgramSerializer(serializers.ModelSerializer):
    class Meta:
        model = Program
        fields = [
            "slug",
            "name",
            "currency",
            "operation_set",
            "direct_rate_bps",
            "override_rate_bps",
            "hold_days",
            "min_payout",
            "fraud_amount_threshold",
            "landing_url",
            "allowed_domains",
            "attribution_window_days",
            "attribution_model",
            "partner_signup",
            "created_at",
        ]


class ProgramUpdateSerializer(StrictSerializer):
    """Every field optional; only those given change. slug, currency and operation_set are fixed
    once a program exists (accounts and API paths depend on them)."""

    name = StrictCharField(max_length=200, required=False)
    direct_rate_bps = StrictIntField(min_value=0, max_value=10_000, required=False)
    override_rate_bps = StrictIntField(min_value=0, max_value=10_000, required=False)
    hold_days = StrictIntField(min_value=0, max_value=3650, required=False)
    min_payout = StrictIntField(min_value=0, max_value=MAX_AMOUNT, required=False)
    fraud_amount_threshold = StrictIntField(
        min_value=0, max_value=MAX_AMOUNT, allow_null=True, required=False
    )
    landing_url = StrictCharField(
        max_length=2000,
        allow_blank=True,
        required=False,
        help_text="https outside DEBUG; its host must be on allowed_domains. Empty: links lead "
        "nowhere (404) until it is set.",
    )
    allowed_domains = serializers.ListField(
        child=StrictCharField(max_length=253),
        max_length=50,
        required=False,
        help_text="Host names links may lead to, each with its subdomains; stored lower case, "
        "international names as punycode.",
    )
    attribution_window_days = StrictIntField(min_value=1, max_value=365, required=False)
    attribution_model = serializers.ChoiceField(AttributionModel.choices, required=False)
    partner_signup = serializers.ChoiceField(PartnerSignup.choices, required=False)


class ReferralLinkCreateSerializer(StrictSerializer):
    slug = StrictCharField(
        max_length=40, help_text=f"{SLUG_PATTERN}, unique per participant", trim_whitespace=False
    )
    destination = StrictCharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="An https URL on one of the program's allowed domains; empty: the program's "
        "landing URL.",
    )


class ReferralLinkSerializer(serializers.ModelSerializer):
    path = serializers.SerializerMethodField(help_text="The short link, /r/{referral_code}/{slug}")

    class Meta:
        model = ReferralLink
        fields = ["slug", "destination", "path", "created_at"]

    def get_path(self, link: ReferralLink) -> str:
        return f"/r/{link.participant.referral_code}/{link.slug}"


class ReferralLinkPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ReferralLinkSerializer(many=True)
