"""`GET/PUT P/tiers`: a program's partner tiers (rules/tiers/models.py says what each
criterion counts)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.serializers import rendered, validated
from config.platform.api.views import ProgramAPIView
from rules.tiers.selectors import tier_list
from rules.tiers.serializers import TierSerializer, TiersPutSerializer, TiersSerializer
from rules.tiers.services import tiers_replace


class TiersApi(ProgramAPIView):
    required_permissions = {"GET": "tiers.view_tier", "PUT": "tiers.change_tier"}

    def _body(self, tiers: list) -> dict:
        return {
            "currency": self.program.currency,
            "tiers": [rendered(TierSerializer, t) for t in tiers],
        }

    @extend_schema(
        responses=TiersSerializer,
        operation_id="tiers_retrieve",
        description="The program's partner tiers, lowest rank first. A partner's tier is the "
        "highest-ranked tier whose every criterion its referred people's events meet over the "
        "tier's rolling window; rules read it as `referrer.tier` (the key).",
    )
    def get(self, request: Request, program: str) -> Response:
        return Response(self._body(tier_list(program=self.program)))

    @extend_schema(
        request=TiersPutSerializer,
        responses=TiersSerializer,
        operation_id="tiers_update",
        description="Replace the program's tiers with these (at most 50; keys and ranks "
        "unique; keys are lower-case slugs). A kept key keeps its partners; partners of a "
        "removed tier lose it. Every partner is recomputed at once: each change is audited and "
        "sent as a `participant.tier_changed` webhook. 400 `validation_error` names each bad "
        "field, and nothing changes.",
    )
    def put(self, request: Request, program: str) -> Response:
        data = validated(TiersPutSerializer, request.data)
        tiers = tiers_replace(program=self.program, tiers=data["tiers"], actor=self.actor)
        return Response(self._body(tiers))
