"""Input and output shapes of the program settings and referral links API (SPEC section 11)."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from config.platform.api.serializers import StrictCharField, StrictSerializer
from config.platform.currencies import MAX_AMOUNT
from config.platform.models import AttributionModel, PartnerSignup, PayoutSchedule, Program
from rules.links.analytics import INTERVALS, MAX_DAYS, REWARD_STATUSES, Analytics
from rules.links.models import SLUG_PATTERN, Coupon, ReferralLink


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
            "payout_schedule",
            "payout_delay_days",
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
    payout_schedule = serializers.ChoiceField(
        PayoutSchedule.choices,
        required=False,
        help_text="monthly: the scheduler drafts a payout batch (as POST P/payout-batches/auto) "
        "on day 1 + payout_delay_days of each month (UTC); a second person still approves it.",
    )
    payout_delay_days = StrictIntField(min_value=0, max_value=27, required=False)


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


class CouponCreateSerializer(StrictSerializer):
    code = StrictCharField(
        max_length=40,
        help_text="Letters, digits, '-' and '_'; case-insensitive, unique in the program",
    )


class CouponSerializer(serializers.ModelSerializer):
    class Meta:
        model = Coupon
        fields = ["code", "created_at"]


class CouponPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CouponSerializer(many=True)


# Dates the range may start or end on (far enough from Python's year 1 and 9999 to bucket).
EARLIEST, LATEST = date(1970, 1, 1), date(9000, 12, 31)


class AnalyticsQuerySerializer(serializers.Serializer):
    """`GET P/analytics` query: `from`, `to` (ISO dates, UTC days, both included), `interval`,
    `participant` (an external id). Defaults: the last 30 days to today, by day."""

    to = serializers.DateField(required=False, input_formats=["iso-8601"])
    interval = serializers.ChoiceField(choices=INTERVALS, required=False, default="day")
    participant = StrictCharField(required=False, max_length=255)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "from": serializers.DateField(required=False, input_formats=["iso-8601"]),
            **super().get_fields(),
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("to") or timezone.now().astimezone(UTC).date()
        start = attrs.get("from") or end - timedelta(days=29)
        interval = attrs["interval"]
        for name, day in (("from", start), ("to", end)):
            if not EARLIEST <= day <= LATEST:
                raise serializers.ValidationError(
                    {name: f"must be between {EARLIEST} and {LATEST}."}
                )
        if start > end:
            raise serializers.ValidationError({"from": "must not be after `to`."})
        if (end - start).days + 1 > MAX_DAYS[interval]:
            raise serializers.ValidationError(
                {"from": f"a range by {interval} covers at most {MAX_DAYS[interval]} days."}
            )
        return {**attrs, "from": start, "to": end}


class RewardTallySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    amount = serializers.IntegerField(help_text="Minor units of the response's `currency`")


class RewardsByStatusSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {status: RewardTallySerializer() for status in REWARD_STATUSES}


class AnalyticsRewardsSerializer(serializers.Serializer):
    count = serializers.IntegerField(source="rewards_count")
    amount = serializers.IntegerField(source="rewards_amount", help_text="Minor units")
    by_status = RewardsByStatusSerializer(
        source="rewards", help_text="Count and amount by the rewards' status now"
    )


class AnalyticsBucketSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First UTC day of the interval (within the range)")
    end = serializers.DateField(help_text="Last UTC day of the interval (within the range)")
    clicks = serializers.IntegerField(help_text="Clicks, bots apart (daily roll-ups)")
    unique_clicks = serializers.IntegerField(
        help_text="Distinct visitors per day, added up over the interval's days"
    )
    referrals = serializers.IntegerField(help_text="Referrals made")
    conversions = serializers.IntegerField(help_text="Events that produced a reward")
    rewards = AnalyticsRewardsSerializer(source="*")


class FunnelSerializer(serializers.Serializer):
    click_to_referral = serializers.FloatField(allow_null=True)
    referral_to_conversion = serializers.FloatField(allow_null=True)
    conversion_to_reward = serializers.FloatField(
        allow_null=True, help_text="Rewards per conversion (an event may reward two people)"
    )


class AnalyticsSerializer(serializers.Serializer):
    program = serializers.SlugField(source="program.slug")
    participant = serializers.CharField(source="participant.external_id", allow_null=True)
    to = serializers.DateField(source="end")
    interval = serializers.ChoiceField(choices=INTERVALS)
    time_zone = serializers.SerializerMethodField(help_text='Days are UTC days: always "UTC"')
    currency = serializers.CharField()
    intervals = AnalyticsBucketSerializer(source="buckets", many=True)
    totals = AnalyticsBucketSerializer()
    funnel = FunnelSerializer(help_text="Each stage over the one before it; null over zero")

    def get_fields(self) -> dict[str, serializers.Field]:
        return {"from": serializers.DateField(source="start"), **super().get_fields()}

    def get_time_zone(self, analytics: Analytics) -> str:
        return "UTC"
