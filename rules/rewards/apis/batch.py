"""POST P/rewards/batch (SPEC §14): many rewards in one request, each item its own idempotent
request. Thin: check the request's shape, validate each item, call one service, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.errors import flatten_errors
from config.platform.api.serializers import StrictSerializer, validated
from config.platform.api.views import ProgramAPIView
from config.platform.exceptions import DomainError, ValidationFailed
from rules.rewards.apis.rewards import RewardCreateSerializer, RewardSerializer, _render_created
from rules.rewards.models import Reward
from rules.rewards.services.reward_batch import (
    MAX_ITEMS,
    BatchItem,
    item_fingerprint,
    reward_batch_create,
)

KEY_HELP = (
    "The item's idempotency key (1-255 printable ASCII), scoped to the program and shared with "
    "POST rewards' Idempotency-Key: an item is the request POST rewards would be with this key."
)


class RewardBatchItemSerializer(RewardCreateSerializer):
    key = serializers.CharField(max_length=255, help_text=KEY_HELP)


class RewardBatchSerializer(StrictSerializer):
    items = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=MAX_ITEMS,
        help_text=f"1 to {MAX_ITEMS} items, each a reward body (POST rewards) plus its `key`.",
    )


class RewardBatchResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    status = serializers.IntegerField(
        help_text="201 created; 200 a replay of the key's stored result (for the same body); "
        "4xx this item's error (400 validation_error or currency_mismatch stores nothing; "
        "422 idempotency_key_reused: the key was used with another body)."
    )
    reward = RewardSerializer(required=False, help_text="With a 2xx status.")
    error = serializers.DictField(
        required=False, help_text="With a 4xx status: a problem object (RFC 9457)."
    )


class RewardBatchResponseSerializer(serializers.Serializer):
    results = RewardBatchResultSerializer(many=True)


def _key_error(key: Any) -> DomainError | None:
    if not isinstance(key, str) or not 1 <= len(key) <= 255:
        return ValidationFailed(
            "key: 1-255 printable ASCII characters.",
            errors=[{"field": "key", "message": "1-255 printable ASCII characters"}],
        )
    if not all(0x20 <= ord(c) < 0x7F for c in key):
        return ValidationFailed(
            "key: 1-255 printable ASCII characters.",
            errors=[{"field": "key", "message": "1-255 printable ASCII characters"}],
        )
    return None


def _item(raw: dict[str, Any], single_path: str) -> BatchItem:
    key = raw.get("key")
    body = {k: v for k, v in raw.items() if k != "key"}
    item = BatchItem(key=key if isinstance(key, str) else "", fingerprint="")
    item.error = _key_error(key)
    if item.error is not None:
        return item
    item.fingerprint = item_fingerprint(single_path, body)
    try:
        item.fields = validated(RewardCreateSerializer, body)
    except serializers.ValidationError as exc:
        errors = flatten_errors(exc.detail)
        item.error = ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    return item


def _render(reward: Reward, actor: str) -> Any:
    return _render_created(reward, actor).data


class RewardBatchApi(ProgramAPIView):
    required_permissions = {"POST": "ledger.add_reward"}

    @extend_schema(
        request=RewardBatchSerializer,
        responses={200: RewardBatchResponseSerializer},
        operation_id="rewards_batch_create",
        description=f"Create up to {MAX_ITEMS} pending rewards in one request. Each item is its "
        "own idempotent request keyed by its `key`, exactly as POST rewards with "
        "`Idempotency-Key: <key>` and the item's other fields as body: a replayed key "
        "returns the stored result (status 200), the same key with another body is 422 "
        "`idempotency_key_reused` in that item, and one bad item never blocks the others. "
        "The response is 200 with one result per item, in order. The request itself is 400 "
        f"when `items` is not a list of objects, is empty or has more than {MAX_ITEMS} items; "
        "no Idempotency-Key header is needed (the items carry theirs).",
    )
    def post(self, request: Request, program: str) -> Response:
        data = validated(RewardBatchSerializer, request.data)
        single_path = request.path.removesuffix("/batch")
        items = [_item(raw, single_path) for raw in data["items"]]
        results = reward_batch_create(
            program=self.program, items=items, actor=self.actor, render=_render
        )
        return Response({"results": [r.as_json() for r in results]})
