"""Reward endpoints (SPEC §4). Thin: validate, call one service, render."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.idempotency import idempotent
from config.platform.api.pagination import CursorPagination
from config.platform.api.serializers import (
    AmountField,
    CurrencyField,
    JSONObjectField,
    ReasonSerializer,
    StrictCharField,
    StrictSerializer,
    rendered,
    rendered_many,
    validated,
)
from config.platform.api.views import ProgramAPIView
from config.platform.exceptions import ValidationFailed
from config.platform.identifiers import PARTICIPANT_ID_RE
from ledger.apis.transactions import IDEMPOTENCY_HEADER
from rules.rewards import selectors
from rules.rewards.models import Reward, RewardHistory
from rules.rewards.services import rewards as reward_services

BENEFICIARY_HELP = "The participant's external id (letters, digits, _ . @ -)."


class RewardCreateSerializer(StrictSerializer):
    beneficiary = serializers.RegexField(
        PARTICIPANT_ID_RE, max_length=200, help_text=BENEFICIARY_HELP
    )
    amount = AmountField(help_text="Positive integer in minor units.")
    currency = CurrencyField(help_text="Must be the program's currency.")
    reward_type = serializers.ChoiceField(choices=Reward.RewardType.choices)
    metadata = JSONObjectField(required=False, default=dict)


class RewardOptionalReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class RewardHistorySerializer(serializers.Serializer):
    # Declared, not a ModelSerializer: building fields from the model on every response cost
    # more CPU than rendering them (the fields and their OpenAPI schema are the ones it built).
    status = serializers.ChoiceField(choices=Reward.Status.choices)
    at = serializers.DateTimeField(required=False)
    actor = serializers.CharField(max_length=255)
    reason = serializers.CharField(allow_blank=True, required=False)


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField(label="ID", read_only=True)
    beneficiary = serializers.CharField(max_length=255)
    amount = serializers.IntegerField(min_value=-(2**63), max_value=2**63 - 1)
    currency = serializers.CharField(max_length=3)
    reward_type = serializers.ChoiceField(choices=Reward.RewardType.choices)
    status = serializers.ChoiceField(choices=Reward.Status.choices, required=False)
    metadata = serializers.JSONField(required=False)
    created_at = serializers.DateTimeField(required=False)
    history = RewardHistorySerializer(many=True)
    hold_reason = serializers.CharField(
        help_text="Non-empty while the reward awaits a fraud review (e.g. its amount is above "
        "the program's fraud threshold); a held reward is never confirmed automatically and "
        "must be released (POST .../release) before it can be confirmed."
    )


class RewardPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RewardSerializer(many=True)


def _render(program, reward: Reward) -> Response:
    return Response(
        rendered(RewardSerializer, selectors.reward_detail(program=program, pk=reward.pk))
    )


def _render_created(reward: Reward, actor: str) -> Response:
    """The 201 body from the row reward_create just wrote, without reading it back: a new
    reward's only history entry is its creation (status pending, at created_at, the actor, the
    hold reason as its reason). tests/ledger/test_rewards.py compares it with a later GET."""
    entry = RewardHistory(
        reward=reward,
        status=reward.status,
        at=reward.created_at,
        actor=actor,
        reason=reward.hold_reason,
    )
    # What prefetch_related("history") would have stored: the serializer reads it, not the db.
    reward._prefetched_objects_cache = {"history": [entry]}  # type: ignore[attr-defined]
    return Response(rendered(RewardSerializer, reward), status=status.HTTP_201_CREATED)


class RewardListApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_reward", "POST": "ledger.add_reward"}

    @extend_schema(
        request=RewardCreateSerializer,
        responses={201: RewardSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        description="[idem] Create a pending reward: books a pending transaction from "
        "program:rewards_expense to user:{beneficiary}:rewards. A currency other than the "
        "program's is 400 `currency_mismatch`.",
    )
    def post(self, request: Request, program: str) -> Response:
        def effect() -> Response:
            data = validated(RewardCreateSerializer, request.data)
            actor = self.actor
            # No source_key from the API, so every call creates a reward.
            reward, _ = reward_services.reward_create(program=self.program, actor=actor, **data)
            return _render_created(reward, actor)

        return idempotent(request, self.program, effect)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Reward.Status.values),
            OpenApiParameter("beneficiary", OpenApiTypes.STR),
            OpenApiParameter("limit", OpenApiTypes.INT, description="page size (max 500)"),
        ],
        responses=RewardPageSerializer,
        operation_id="rewards_list",
        description="Rewards, newest first, cursor-paginated.",
    )
    def get(self, request: Request, program: str) -> Response:
        wanted = request.query_params.get("status")
        if wanted is not None and wanted not in Reward.Status.values:
            raise ValidationFailed(
                f"Unknown status {wanted!r}.",
                errors=[{"field": "status", "message": f"one of {Reward.Status.values}"}],
            )
        qs = selectors.reward_list(
            program=self.program,
            status=wanted,
            beneficiary=request.query_params.get("beneficiary"),
        )
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(rendered_many(RewardSerializer, page))


class RewardDetailApi(ProgramAPIView):
    required_permissions = {"GET": "ledger.view_reward"}

    @extend_schema(responses=RewardSerializer, operation_id="rewards_get")
    def get(self, request: Request, program: str, pk: str) -> Response:
        reward = selectors.reward_get(program=self.program, pk=pk)
        return _render(self.program, reward)


class RewardStepApi(ProgramAPIView):
    """POST rewards/{id}/<step>: validate the body, run one reward service, render the reward.
    Repeating a step that already happened returns the reward unchanged (the services decide)."""

    input_serializer: type[serializers.Serializer] = ReasonSerializer
    step: Callable[..., Reward]

    def post(self, request: Request, program: str, pk: str) -> Response:
        data = validated(self.input_serializer, request.data)
        reward = selectors.reward_get(program=self.program, pk=pk)
        reward = self.step(reward=reward, actor=self.actor, reason=data["reason"])
        return _render(self.program, reward)


def _step_schema(description: str, request: type[serializers.Serializer] = ReasonSerializer):
    return extend_schema_view(
        post=extend_schema(request=request, responses=RewardSerializer, description=description)
    )


@_step_schema(
    "Post the reward's pending transaction. Confirming a confirmed reward returns it "
    "unchanged; a reversed, paid or held reward is 409 `invalid_transition`.",
    request=RewardOptionalReasonSerializer,
)
class RewardConfirmApi(RewardStepApi):
    required_permissions = {"POST": "ledger.change_reward"}

    input_serializer = RewardOptionalReasonSerializer
    step = staticmethod(reward_services.reward_confirm)


@_step_schema(
    "Void a pending reward or book a reversal of a confirmed one (reason required). Reversing "
    "a reversed reward returns it unchanged; a paid reward is 409 `invalid_transition` (use "
    "clawback)."
)
class RewardReverseApi(RewardStepApi):
    required_permissions = {"POST": "ledger.change_reward"}

    step = staticmethod(reward_services.reward_reverse)


@_step_schema(
    "For a paid reward only: books a transfer back out of user:{beneficiary}:rewards (its "
    "available balance may go negative; the next payout nets it). Any other state is 409 "
    "`invalid_transition`."
)
class RewardClawbackApi(RewardStepApi):
    required_permissions = {"POST": "ledger.change_reward"}

    step = staticmethod(reward_services.reward_clawback)


@_step_schema(
    "End a fraud review hold (reason required); the reward stays pending and can then be "
    "confirmed. Releasing a reward that is not held returns it unchanged."
)
class RewardReleaseApi(RewardStepApi):
    required_permissions = {"POST": "ledger.review_reward"}

    step = staticmethod(reward_services.reward_release)
