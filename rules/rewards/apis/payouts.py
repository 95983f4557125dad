"""Payout batch endpoints (SPEC §7). Thin: validate, call one service, render."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import (
    AmountField,
    ReasonSerializer,
    StrictSerializer,
    rendered,
    rendered_many,
    validated,
)
from config.platform.api.views import ProgramAPIView
from config.platform.identifiers import PARTICIPANT_ID_RE
from rules.rewards import selectors
from rules.rewards.models import PayoutBatch, PayoutItem
from rules.rewards.services import payouts as payout_services


class PayoutBatchCreateSerializer(StrictSerializer):
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class PayoutItemCreateSerializer(StrictSerializer):
    beneficiary = serializers.RegexField(
        PARTICIPANT_ID_RE, max_length=200, help_text="The participant's external id."
    )
    amount = AmountField(
        required=False,
        help_text="Minor units; default: the beneficiary's whole available balance (net of "
        "clawbacks). Above it: 409 `insufficient_funds`; below the program's min_payout: 400.",
    )


class PayoutItemSerializer(serializers.ModelSerializer):
    currency = serializers.CharField(source="batch.currency")
    transaction = serializers.UUIDField(
        source="transaction_id",
        allow_null=True,
        help_text="The booked transfer, once the batch is executed.",
    )
    reference = serializers.CharField(
        help_text="Deterministic reference of the transfer (ledger and export)."
    )
    rewards = serializers.SerializerMethodField(help_text="Rewards this item marked paid.")

    class Meta:
        model = PayoutItem
        fields = ["id", "beneficiary", "amount", "currency", "transaction", "reference", "rewards"]

    def get_rewards(self, item: PayoutItem) -> list[int]:
        return [c.reward_id for c in item.coverages.all()]


class PayoutBatchSerializer(serializers.ModelSerializer):
    items = PayoutItemSerializer(many=True)
    total = serializers.SerializerMethodField()

    class Meta:
        model = PayoutBatch
        fields = [
            "id",
            "status",
            "currency",
            "description",
            "total",
            "items",
            "created_by",
            "created_at",
            "submitted_by",
            "submitted_at",
            "approved_by",
            "approved_at",
            "rejected_by",
            "rejected_at",
            "rejection_reason",
            "executed_by",
            "executed_at",
        ]

    def get_total(self, batch: PayoutBatch) -> int:
        return sum(i.amount for i in batch.items.all())


def _render(program, batch: PayoutBatch, code: int = status.HTTP_200_OK) -> Response:
    detail = selectors.payout_batch_detail(program=program, pk=batch.pk)
    return Response(rendered(PayoutBatchSerializer, detail), status=code)


class PayoutBatchListApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_payoutbatch", "POST": "ledger.add_payoutbatch"}

    @extend_schema(
        request=PayoutBatchCreateSerializer,
        responses={201: PayoutBatchSerializer},
        description="Create a draft batch. Its creator (and whoever submits it or adds its "
        "items) can never approve it.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(PayoutBatchCreateSerializer, request.data)
        batch = payout_services.payout_batch_create(
            program=self.program, actor=self.actor, description=data["description"]
        )
        return _render(self.program, batch, status.HTTP_201_CREATED)

    @extend_schema(responses=PayoutBatchSerializer(many=True), description="Newest first.")
    def get(self, request: Request, program: str) -> Response:
        paginator = CursorPagination()
        qs = selectors.payout_batch_list(program=self.program)
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(rendered_many(PayoutBatchSerializer, page))


class PayoutBatchDetailApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_payoutbatch"}

    @extend_schema(responses=PayoutBatchSerializer)
    def get(self, request: Request, program: str, pk: str) -> Response:
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        return _render(self.program, batch)


class PayoutItemListApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.change_payoutbatch"}

    @extend_schema(
        request=PayoutItemCreateSerializer,
        responses={201: PayoutBatchSerializer},
        description="Add a beneficiary to a draft batch; returns the batch with the new item. "
        "A beneficiary appears once per batch (409 `already_exists`); a batch that is not a "
        "draft is 409 `invalid_transition`.",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(PayoutItemCreateSerializer, request.data)
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        payout_services.payout_item_add(
            batch=batch,
            beneficiary=data["beneficiary"],
            amount=data.get("amount"),
            actor=self.actor,
        )
        return _render(self.program, batch, status.HTTP_201_CREATED)


class PayoutBatchSubmitApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.change_payoutbatch"}

    @extend_schema(
        request=None,
        responses=PayoutBatchSerializer,
        description="draft → pending_approval (needs at least one item).",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        batch = payout_services.payout_batch_submit(batch=batch, actor=self.actor)
        return _render(self.program, batch)


class PayoutBatchApproveApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.approve_payoutbatch"}

    @extend_schema(
        request=None,
        responses=PayoutBatchSerializer,
        description="pending_approval → approved, by a holder of `approve_payoutbatch` (else "
        "403 `permission_denied`) who is none of the batch's creator, its submitter and the "
        "people who added its items (403 `four_eyes_violation`). An API key acts as its owner: "
        "a person's keys and their session are one identity.",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        batch = payout_services.payout_batch_approve(batch=batch, actor=self.actor)
        return _render(self.program, batch)


class PayoutBatchRejectApi(ProgramAPIView):
    required_permissions = {"POST": ("ledger.change_payoutbatch", "ledger.approve_payoutbatch")}

    @extend_schema(
        request=ReasonSerializer,
        responses=PayoutBatchSerializer,
        description="draft, pending_approval or approved → rejected (reason required).",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(ReasonSerializer, request.data)
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        batch = payout_services.payout_batch_reject(
            batch=batch, actor=self.actor, reason=data["reason"]
        )
        return _render(self.program, batch)


class PayoutBatchExecuteApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.execute_payoutbatch"}

    @extend_schema(
        request=None,
        responses=PayoutBatchSerializer,
        description="approved → executed: books per item a transfer user:{id}:rewards → "
        "program:payouts_clearing (reference `payout:{batch}:{item}`) and marks the covered "
        "confirmed rewards paid, oldest first, all in one database transaction. Amounts are "
        "re-checked against balances (409 `insufficient_funds`). Executing an executed batch "
        "returns it unchanged.",
    )
    def post(self, request: Request, program: str, pk: str) -> Response:
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        batch = payout_services.payout_batch_execute(batch=batch, actor=self.actor)
        return _render(self.program, batch)


class PayoutBatchExportApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_payoutbatch"}

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="beneficiary, amount_minor, amount (major units), currency, "
                "reference — one row per item, for a bank or PayPal mass payout.",
            ),
            409: OpenApiResponse(
                description="The batch is not approved or executed yet (`invalid_transition`)"
            ),
        },
        description="CSV of an approved or executed batch (else 409 `invalid_transition`).",
    )
    def get(self, request: Request, program: str, pk: str) -> HttpResponse:
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        body = payout_services.payout_batch_csv(batch=batch)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        filename = f"payout-{self.program.slug}-{batch.pk}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
