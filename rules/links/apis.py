"""The program's settings (GET/PATCH P) and participants' named links (SPEC section 11)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import rendered, rendered_many, validated
from config.platform.api.views import ProgramAPIView
from rules import selectors as rules_selectors
from rules.links import selectors
from rules.links.analytics import analytics
from rules.links.serializers import (
    AnalyticsQuerySerializer,
    AnalyticsSerializer,
    CouponCreateSerializer,
    CouponPageSerializer,
    CouponSerializer,
    ProgramSerializer,
    ProgramUpdateSerializer,
    ReferralLinkCreateSerializer,
    ReferralLinkPageSerializer,
    ReferralLinkSerializer,
)
from rules.links.services.coupons import coupon_create
from rules.links.services.links import referral_link_create
from rules.rewards.services.program_settings import program_update


class ProgramApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_program", "PATCH": "ledger.change_program"}

    @extend_schema(
        responses=ProgramSerializer,
        operation_id="program_retrieve",
        description="The program with all its settings: commissions, hold days, payout "
        "minimum, fraud threshold, referral links (landing URL, allowed domains, attribution "
        "window and model) and the partner portal's signup policy.",
    )
    def get(self, request: Request, program: str) -> Response:
        return Response(rendered(ProgramSerializer, self.program))

    @extend_schema(
        request=ProgramUpdateSerializer,
        responses=ProgramSerializer,
        operation_id="program_update",
        description="Change settings; each changed field is audited (`program.updated`, before "
        "and after). 400 `validation_error` for a landing URL or domain that is not https "
        "(outside DEBUG), a landing URL off the allowed domains, or a window outside 1-365.",
    )
    def patch(self, request: Request, program: str) -> Response:
        changes = validated(ProgramUpdateSerializer, request.data)
        updated = program_update(program=self.program, changes=changes, actor=self.actor)
        return Response(rendered(ProgramSerializer, updated))


class ReferralLinkListApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_referrallink", "POST": "rules.add_referrallink"}

    @extend_schema(
        parameters=[OpenApiParameter("limit", OpenApiTypes.INT, description="page size (max 500)")],
        responses=ReferralLinkPageSerializer,
        operation_id="participant_links_list",
        description="The participant's named links, newest first, cursor-paginated (their "
        "plain link is /r/{referral_code}).",
    )
    def get(self, request: Request, program: str, external_id: str) -> Response:
        participant = rules_selectors.participant_get(program=self.program, external_id=external_id)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(
            selectors.referral_link_list(participant=participant), request, view=self
        )
        return paginator.get_paginated_response(rendered_many(ReferralLinkSerializer, page))

    @extend_schema(
        request=ReferralLinkCreateSerializer,
        responses={201: ReferralLinkSerializer},
        operation_id="participant_links_create",
        description="A named link /r/{referral_code}/{slug}. 400 `validation_error` for a bad "
        "slug or a destination off the program's allowed domains; 409 `already_exists` when "
        "the participant has a link of that slug.",
    )
    def post(self, request: Request, program: str, external_id: str) -> Response:
        data = validated(ReferralLinkCreateSerializer, request.data)
        participant = rules_selectors.participant_get(program=self.program, external_id=external_id)
        link = referral_link_create(participant=participant, actor=self.actor, **data)
        return Response(rendered(ReferralLinkSerializer, link), status=status.HTTP_201_CREATED)


class CouponListApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_coupon", "POST": "rules.add_coupon"}

    @extend_schema(
        parameters=[OpenApiParameter("limit", OpenApiTypes.INT, description="page size (max 500)")],
        responses=CouponPageSerializer,
        operation_id="participant_coupons_list",
        description="The coupon codes assigned to the participant, newest first.",
    )
    def get(self, request: Request, program: str, external_id: str) -> Response:
        participant = rules_selectors.participant_get(program=self.program, external_id=external_id)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(
            selectors.coupon_list(participant=participant), request, view=self
        )
        return paginator.get_paginated_response(rendered_many(CouponSerializer, page))

    @extend_schema(
        request=CouponCreateSerializer,
        responses={201: CouponSerializer},
        operation_id="participant_coupons_create",
        description="Assign a coupon code: an event or referral with `coupon` set to it is "
        "attributed to the participant. Codes are case-insensitive (stored upper-case). 400 "
        "`validation_error` for a bad code; 409 `already_exists` when the program has the code "
        "(as a coupon or a referral code).",
    )
    def post(self, request: Request, program: str, external_id: str) -> Response:
        data = validated(CouponCreateSerializer, request.data)
        participant = rules_selectors.participant_get(program=self.program, external_id=external_id)
        coupon = coupon_create(participant=participant, code=data["code"], actor=self.actor)
        return Response(rendered(CouponSerializer, coupon), status=status.HTTP_201_CREATED)


class AnalyticsApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_clickdaily"}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="First UTC day (default: `to` - 29 days)"
            ),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day (default: today)"),
            OpenApiParameter(
                "interval",
                OpenApiTypes.STR,
                enum=["day", "week", "month"],
                description="Buckets: UTC days, ISO weeks (from Monday) or months (default day)",
            ),
            OpenApiParameter(
                "participant", OpenApiTypes.STR, description="A partner's external id: their funnel"
            ),
        ],
        responses=AnalyticsSerializer,
        operation_id="analytics_retrieve",
        description="The funnel per interval: clicks and unique clicks (daily roll-ups, bots "
        "apart), referrals made, conversions (events that produced a reward) and rewards created "
        "(count and amount in minor units by status now), with totals and the ratio of each stage "
        "to the one before. Days are UTC days; `from` and `to` are both included. With "
        "`participant`: the partner's clicks, the referrals they made, the events that rewarded "
        "them and their rewards. 400 `validation_error` for a date that is not ISO 8601, `from` "
        "after `to`, an unknown interval, or a range over 731 days by day (1827 by week, 3653 by "
        "month); 404 `not_found` for an unknown participant.",
    )
    def get(self, request: Request, program: str) -> Response:
        query = validated(AnalyticsQuerySerializer, request.query_params)
        participant = None
        if "participant" in query:
            participant = rules_selectors.participant_get(
                program=self.program, external_id=query["participant"]
            )
        result = analytics(
            program=self.program,
            start=query["from"],
            end=query["to"],
            interval=query["interval"],
            participant=participant,
        )
        return Response(rendered(AnalyticsSerializer, result))


@extend_schema(exclude=True)
class ProgramSlashApi(ProgramApi):
    """GET/PATCH P at `P/` too, listed with the program's other routes (permissions table,
    cross-program tests); the schema shows the one at P."""
