"""Participants and referrals."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.serializers import rendered, validated
from config.platform.api.views import ProgramAPIView
from rules import selectors
from rules.rewards.selectors import user_balance
from rules.serializers import (
    ParticipantSerializer,
    ParticipantUpsertSerializer,
    ReferralCreateSerializer,
    ReferralSerializer,
)
from rules.services.participants import participant_upsert
from rules.services.referrals import referral_create


class ParticipantDetailApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_participant", "PUT": "rules.change_participant"}

    @extend_schema(responses=ParticipantSerializer)
    def get(self, request: Request, program: str, external_id: str) -> Response:
        participant = selectors.participant_get(program=self.program, external_id=external_id)
        return Response(rendered(ParticipantSerializer, participant))

    @extend_schema(
        request=ParticipantUpsertSerializer,
        responses={200: ParticipantSerializer, 201: ParticipantSerializer},
        description="Create the participant (201) or merge the attributes into it (200).",
    )
    def put(self, request: Request, program: str, external_id: str) -> Response:
        data = validated(ParticipantUpsertSerializer, request.data)
        participant, created = participant_upsert(
            program=self.program,
            external_id=external_id,
            attributes=data["attributes"],
            actor=self.actor,
        )
        return Response(
            rendered(ParticipantSerializer, participant),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ParticipantTreeApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_referral"}

    @extend_schema(responses=OpenApiTypes.OBJECT, description="The downline, two levels deep.")
    def get(self, request: Request, program: str, external_id: str) -> Response:
        participant = selectors.participant_get(program=self.program, external_id=external_id)
        return Response(selectors.participant_tree(participant))


class ParticipantStatsApi(ProgramAPIView):
    required_permissions = {"GET": "rules.view_participant"}

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="Referral counts (direct, indirect = second level) and rewards in minor "
        "units (pending, available = confirmed and unpaid, paid).",
    )
    def get(self, request: Request, program: str, external_id: str) -> Response:
        participant = selectors.participant_get(program=self.program, external_id=external_id)
        balance = user_balance(program=self.program, external_id=external_id)
        return Response(
            {
                "external_id": participant.external_id,
                "referrals": selectors.referral_counts(participant),
                "rewards": {
                    "currency": balance["currency"],
                    "pending": balance["pending"],
                    "available": balance["available"],
                    "paid": balance["paid"],
                },
            }
        )


class ReferralListApi(ProgramAPIView):
    required_permissions = {"POST": "rules.add_referral"}

    @extend_schema(
        request=ReferralCreateSerializer,
        responses={201: ReferralSerializer},
        description="Name the referrer by `referrer` (external id), `referral_code`, `click_id` "
        "(the program's attribution model and window apply) or `coupon`. Unknown "
        "participants are created. An unknown or expired click id or coupon is 400 "
        "`validation_error`. Errors: 400 `self_referral`, 409 `already_referred`, "
        "400 `referral_cycle`.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(ReferralCreateSerializer, request.data)
        referral = referral_create(program=self.program, actor=self.actor, **data)
        return Response(rendered(ReferralSerializer, referral), status=status.HTTP_201_CREATED)
