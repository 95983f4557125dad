"""A beneficiary's view of their money (SPEC §4): balance and ledger."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import rendered, rendered_many
from config.platform.api.views import ProgramAPIView
from ledger.models import Posting
from rules.rewards import selectors


class UserBalanceSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="The participant's external id.")
    currency = serializers.CharField()
    pending = serializers.IntegerField(
        help_text="Rewards booked but not yet confirmed (pending balance of "
        "user:{id}:rewards), minor units."
    )
    available = serializers.IntegerField(
        help_text="Confirmed and not yet paid out: the posted balance of user:{id}:rewards, "
        "net of reversals and clawbacks. Negative after a clawback of a paid reward; the next "
        "payout nets it."
    )
    paid = serializers.IntegerField(
        help_text="Total paid out: the net amount that payout transfers (ledger transactions "
        "whose reference starts with 'payout:') moved out of user:{id}:rewards, less their "
        "reversals. Counted from the ledger, not from reward statuses, because a payout item "
        "may cover rewards partially."
    )


class UserLedgerEntrySerializer(serializers.ModelSerializer):
    transaction = serializers.UUIDField(source="transaction_id")
    account = serializers.CharField(source="account.code")
    amount = serializers.SerializerMethodField(
        help_text="Signed minor units: positive credits the user, negative debits them."
    )
    status = serializers.SerializerMethodField(
        help_text="pending, posted or voided. A two-phase reward appears once, with the status "
        "its pending transaction reached (the post/void resolutions are not listed again)."
    )
    description = serializers.CharField(source="transaction.description")

    class Meta:
        model = Posting
        fields = ["transaction", "account", "amount", "status", "description", "created_at"]

    @extend_schema_field(OpenApiTypes.INT)
    def get_amount(self, posting: Posting) -> int:
        return posting.amount if posting.direction == "credit" else -posting.amount

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "posted", "voided"]))
    def get_status(self, posting: Posting) -> str:
        return posting.transaction.status


class UserLedgerPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = UserLedgerEntrySerializer(many=True)


class UserBalanceApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_account"}

    @extend_schema(
        responses=UserBalanceSerializer,
        description="A user's rewards in minor units. An unknown user has zero everywhere.",
    )
    def get(self, request: Request, program: str, external_id: str) -> Response:
        balance = selectors.user_balance(program=self.program, external_id=external_id)
        return Response(rendered(UserBalanceSerializer, balance))


class UserLedgerApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_posting"}

    @extend_schema(
        parameters=[OpenApiParameter("limit", OpenApiTypes.INT, description="page size")],
        responses=UserLedgerPageSerializer,
        description="The user's postings on their accounts (user:{id}:rewards, "
        "user:{id}:credits), newest first, cursor-paginated.",
    )
    def get(self, request: Request, program: str, external_id: str) -> Response:
        qs = selectors.user_ledger_entries(program=self.program, external_id=external_id)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(rendered_many(UserLedgerEntrySerializer, page))
