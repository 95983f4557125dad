"""Payout batch endpoints (SPEC §7). Thin: validate, call one service, render."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
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
from rules.rewards.payout_selectors import payout_amounts, payout_item_get
from rules.rewards.rails.csv import FORMATS
from rules.rewards.services import payout_auto, payout_items
from rules.rewards.services import payouts as payout_services


class PayoutBatchCreateSerializer(StrictSerializer):
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    rail = serializers.ChoiceField(
        PayoutBatch.Rail.choices,
        required=False,
        default=PayoutBatch.Rail.CSV,
        help_text="How the money leaves: csv (a file the operator pays from, then confirms or "
        "fails each item), paypal (PayPal Payouts), stripe_connect (Stripe transfers to "
        "connected accounts), external (a `payout.requested` webhook per item; the company "
        "confirms or fails each). paypal and stripe_connect need every beneficiary to have a "
        "payout method of that kind.",
    )
    csv_format = serializers.ChoiceField(
        PayoutBatch.CsvFormat.choices,
        required=False,
        default=PayoutBatch.CsvFormat.GENERIC,
        help_text="The csv rail's file: generic, paypal_mass_pay (needs paypal methods) or "
        "wise_batch (needs bank_transfer methods).",
    )


class SkippedSerializer(serializers.Serializer):
    beneficiary = serializers.CharField()
    available = serializers.IntegerField(help_text="Minor units.")
    reason = serializers.ChoiceField(
        ["below_min_payout", "no_payout_method", "method_not_on_rail", "refused"]
    )
    detail = serializers.CharField()


class FailSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


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

    return_transaction = serializers.UUIDField(
        source="return_transaction_id",
        allow_null=True,
        help_text="The transfer back to the beneficiary's rewards account, once failed.",
    )

    class Meta:
        model = PayoutItem
        fields = [
            "id",
            "beneficiary",
            "amount",
            "currency",
            "status",
            "method",
            "provider_ref",
            "failure_reason",
            "transaction",
            "return_transaction",
            "reference",
            "rewards",
            "sent_at",
            "paid_at",
            "failed_at",
        ]

    def get_rewards(self, item: PayoutItem) -> list[int]:
        return [c.reward_id for c in item.coverages.all()]


class PayoutAmountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField(help_text="Not executed yet (minor units).")
    sent = serializers.IntegerField(help_text="Executed, outcome not known yet.")
    paid = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Returned to the beneficiaries' balances.")


class PayoutBatchSerializer(serializers.ModelSerializer):
    items = PayoutItemSerializer(many=True)
    total = serializers.SerializerMethodField()
    amounts = serializers.SerializerMethodField()

    class Meta:
        model = PayoutBatch
        fields = [
            "id",
            "status",
            "currency",
            "description",
            "rail",
            "csv_format",
            "scheduled_for",
            "total",
            "amounts",
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

    @extend_schema_field(PayoutAmountsSerializer)
    def get_amounts(self, batch: PayoutBatch) -> dict[str, int]:
        return payout_amounts(batch.items.all())


class PayoutBatchAutoSerializer(PayoutBatchSerializer):
    """The schema of POST P/payout-batches/auto: the batch and who was left out."""

    skipped = SkippedSerializer(many=True, read_only=True)

    class Meta(PayoutBatchSerializer.Meta):
        fields = [*PayoutBatchSerializer.Meta.fields, "skipped"]


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
            program=self.program,
            actor=self.actor,
            description=data["description"],
            rail=data["rail"],
            csv_format=data["csv_format"],
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
        "program:payouts_clearing (reference `payout:{batch}:{item}`), marks the covered "
        "confirmed rewards paid, oldest first, and every item `sent`, all in one database "
        "transaction; then hands the items to the batch's rail (csv: nothing to send; external: "
        "a `payout.requested` webhook per item, in the same transaction; paypal, "
        "stripe_connect: the provider is called after the commit, each item with its "
        "idempotency key `payout-item-{id}`). Amounts are re-checked against balances (409 "
        "`insufficient_funds`); a rail that needs payout methods some beneficiary lacks is 400. "
        "Executing an executed batch books nothing: it re-sends, with the same idempotency "
        "keys, the items the provider has not answered for (after a crash or an outage).",
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
        parameters=[
            OpenApiParameter(
                "csv_format",
                str,
                enum=list(FORMATS),
                required=False,
                description="generic (default for non-csv rails; no payout details), "
                "paypal_mass_pay or wise_batch: the provider's upload file, with the real "
                "payout details it needs (every item needs the matching payout method, else "
                "400). Default: the batch's csv_format.",
            )
        ],
        description="CSV of an approved or executed batch (else 409 `invalid_transition`).",
    )
    def get(self, request: Request, program: str, pk: str) -> HttpResponse:
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        csv_format = request.query_params.get("csv_format") or None
        if payout_services.payout_batch_csv_decrypts(
            batch=batch, csv_format=csv_format
        ) and not request.user.has_perm(payout_services.PAYMENT_FILE_PERMISSION):
            self.permission_denied(
                request,
                message="A payment file holds payout details: it needs the permission "
                f"{payout_services.PAYMENT_FILE_PERMISSION} (csv_format=generic does not).",
            )
        body = payout_services.payout_batch_csv(batch=batch, csv_format=csv_format)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        filename = f"payout-{self.program.slug}-{batch.pk}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class PayoutBatchAutoApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_payoutbatch"}

    @extend_schema(
        request=PayoutBatchCreateSerializer,
        responses={201: PayoutBatchAutoSerializer},
        description="A draft with every beneficiary whose available balance is at least the "
        "program's min_payout (and above 0) and who has a payout method the rail can pay, each "
        "with their whole available balance; everyone else with a balance is listed in "
        "`skipped` with the reason. The draft then needs submitting and a second person's "
        "approval like any other. With nobody to pay, the draft is empty.",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(PayoutBatchCreateSerializer, request.data)
        batch, skipped = payout_auto.payout_batch_auto(
            program=self.program,
            actor=self.actor,
            description=data["description"],
            rail=data["rail"],
            csv_format=data["csv_format"],
        )
        assert batch is not None
        detail = selectors.payout_batch_detail(program=self.program, pk=batch.pk)
        body = {
            **rendered(PayoutBatchSerializer, detail),
            "skipped": payout_auto.skipped_as_dicts(skipped),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class PayoutItemConfirmApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.execute_payoutbatch"}

    @extend_schema(
        request=None,
        responses=PayoutBatchSerializer,
        description="sent → paid: the money arrived (csv and external rails; the provider "
        "rails settle their items themselves, 409 `invalid_transition`). Confirming a paid item "
        "changes nothing; a failed one is 409.",
    )
    def post(self, request: Request, program: str, pk: str, item: str) -> Response:
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        found = payout_item_get(batch=batch, pk=item)
        payout_items.payout_item_confirm(batch=batch, item=found, actor=self.actor)
        return _render(self.program, batch)


class PayoutItemFailApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.execute_payoutbatch"}

    @extend_schema(
        request=FailSerializer,
        responses=PayoutBatchSerializer,
        description="sent or paid (returned) → failed (csv and external rails): books the "
        "transfer back program:payouts_clearing → user:{id}:rewards (reference "
        "`payout:{batch}:{item}:return`), puts the rewards the item paid back to `confirmed` "
        "and tells the partner. Failing a failed item changes nothing.",
    )
    def post(self, request: Request, program: str, pk: str, item: str) -> Response:
        data = validated(FailSerializer, request.data)
        batch = selectors.payout_batch_get(program=self.program, pk=pk)
        found = payout_item_get(batch=batch, pk=item)
        payout_items.payout_item_fail(
            batch=batch, item=found, reason=data["reason"], actor=self.actor
        )
        return _render(self.program, batch)
