"""Credits endpoints (SPEC §5): typed operations on an owner's credits wallet."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.serializers import AmountField, StrictSerializer, rendered, validated
from config.platform.api.views import ProgramAPIView
from config.platform.identifiers import PARTICIPANT_ID_RE
from rules.rewards.models import CreditEntry
from rules.rewards.services import credits as credit_services

OWNER_HELP = "The wallet owner's external id (letters, digits, _ . @ -)."


class CreditApplySerializer(StrictSerializer):
    owner_id = serializers.RegexField(PARTICIPANT_ID_RE, max_length=200, help_text=OWNER_HELP)
    operation = serializers.CharField(
        max_length=100, help_text="An operation of the program's operation set, e.g. CREDIT_SPEND."
    )
    amount = AmountField(
        required=False,
        help_text="Optional positive amount; the sign comes from the operation. Default: the "
        "operation's default amount.",
    )
    nonce = serializers.CharField(
        max_length=255,
        help_text="Idempotency key: the same nonce and body replays the first result (200); a "
        "different body is 422 `idempotency_key_reused`.",
    )


class CreditEntrySerializer(serializers.ModelSerializer):
    amount = serializers.IntegerField(help_text="Signed: positive adds credits, negative spends.")
    balance = serializers.IntegerField(help_text="The owner's balance right after this entry.")

    class Meta:
        model = CreditEntry
        fields = ["id", "owner_id", "operation", "amount", "balance"]


class CreditBalanceSerializer(serializers.Serializer):
    owner_id = serializers.CharField()
    balance = serializers.IntegerField()


class CreditListApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_creditentry"}

    @extend_schema(
        request=CreditApplySerializer,
        responses={201: CreditEntrySerializer, 200: CreditEntrySerializer},
        description="Apply an operation. 201 when applied, 200 when the nonce replays an "
        "earlier identical request. A spend that would overdraw: 409 `insufficient_funds` "
        "(nothing written). An operation outside the program's set: 400 `unknown_operation`. "
        "A zero operation is recorded and moves nothing.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(CreditApplySerializer, request.data)
        entry, created = credit_services.credit_apply(
            program=self.program,
            owner_id=data["owner_id"],
            operation=data["operation"],
            amount=data.get("amount"),
            nonce=data["nonce"],
            actor=self.actor,
        )
        return Response(
            rendered(CreditEntrySerializer, entry),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CreditBalanceApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_creditentry"}

    @extend_schema(responses=CreditBalanceSerializer)
    def get(self, request: Request, program: str, owner_id: str) -> Response:
        balance = credit_services.credits_balance(program=self.program, owner_id=owner_id)
        return Response({"owner_id": owner_id, "balance": balance})
