"""POST P/rewards/batch (SPEC §14): many rewards in one request, each item its own idempotent
request. Thin: check the request's shape, validate each item, call one service, render."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from config.platform.api.errors import flatten_errors
from config.platform.api.serializers import StrictSerializer, validated
from config.platform.api.views import ProgramAPIView
from config.platform.currencies import CURRENCY_RE, MAX_AMOUNT
from config.platform.exceptions import DomainError, ValidationFailed
from rules.rewards.apis.rewards import RewardCreateSerializer, RewardSerializer
from rules.rewards.models import Reward
from rules.rewards.services.reward_batch import (
    MAX_ITEMS,
    BatchItem,
    Render,
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
    # Printable ASCII (0x20-0x7E): for ASCII text, isprintable() is exactly that range.
    if not (key.isascii() and key.isprintable()):
        return ValidationFailed(
            "key: 1-255 printable ASCII characters.",
            errors=[{"field": "key", "message": "1-255 printable ASCII characters"}],
        )
    return None


_FIELDS = frozenset(RewardCreateSerializer._declared_fields)
_REQUIRED = frozenset(("beneficiary", "amount", "currency", "reward_type"))
_PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_.@-]{1,200}")  # PARTICIPANT_ID_RE, no trailing \n
_REWARD_TYPES = frozenset(Reward.RewardType.values)


def _plain(body: dict[str, Any]) -> dict[str, Any] | None:
    """RewardCreateSerializer's validated data for the usual, valid item; None for anything
    else, which the serializer then answers (its own result or its own error wording).
    Accepts only what the serializer takes unchanged, so both give the same data
    (tests/bulk/test_reward_batch.py compares them): exact types, no whitespace to trim."""
    if not (_REQUIRED <= body.keys() <= _FIELDS):
        return None
    beneficiary, amount = body["beneficiary"], body["amount"]
    currency, reward_type = body["currency"], body["reward_type"]
    metadata = body.get("metadata", _MISSING)
    if (
        type(beneficiary) is str
        and _PARTICIPANT_ID.fullmatch(beneficiary)
        and type(amount) is int
        and 1 <= amount <= MAX_AMOUNT
        and type(currency) is str
        and len(currency) == 3
        and CURRENCY_RE.match(currency)
        and type(reward_type) is str
        and reward_type in _REWARD_TYPES
        and (metadata is _MISSING or type(metadata) is dict)
    ):
        return {
            "beneficiary": beneficiary,
            "amount": amount,
            "currency": currency,
            "reward_type": reward_type,
            "metadata": {} if metadata is _MISSING else metadata,
        }
    return None


_MISSING: Any = object()


def _item(raw: dict[str, Any], single_path: str) -> BatchItem:
    key = raw.get("key")
    body = {k: v for k, v in raw.items() if k != "key"}
    item = BatchItem(key=key if isinstance(key, str) else "", fingerprint="")
    item.error = _key_error(key)
    if item.error is not None:
        return item
    item.fingerprint = item_fingerprint(single_path, body)
    item.fields = _plain(body)
    if item.fields is not None:
        return item
    try:
        item.fields = validated(RewardCreateSerializer, body)
    except serializers.ValidationError as exc:
        errors = flatten_errors(exc.detail)
        item.error = ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    return item


def _drf_time(at: datetime, zone: tzinfo) -> str:
    """What RewardSerializer's DateTimeField renders (ISO 8601, UTC as Z)."""
    text = at.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _renderer() -> Render:
    zone = timezone.get_current_timezone()  # once per request, as DRF would find it per field

    def render(row: dict[str, Any], actor: str) -> Any:
        """The 201 body POST rewards answers (_render_created: RewardSerializer over the new
        reward, its one history entry), built directly; tests/bulk compares the two."""
        at = _drf_time(row["created_at"], zone)
        return {
            "id": row["id"],
            "beneficiary": row["beneficiary"],
            "amount": row["amount"],
            "currency": row["currency"],
            "reward_type": row["reward_type"],
            "status": row["status"],
            "metadata": row["metadata"],
            "created_at": at,
            "history": [
                {"status": row["status"], "at": at, "actor": actor, "reason": row["hold_reason"]}
            ],
            "hold_reason": row["hold_reason"],
        }

    return render


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
    def post(self, request: Request, program: str) -> HttpResponse:
        data = request.data
        if not (
            type(data) is dict
            and data.keys() == {"items"}
            and type(data["items"]) is list
            and 1 <= len(data["items"]) <= MAX_ITEMS
            and all(type(raw) is dict for raw in data["items"])
        ):
            data = validated(RewardBatchSerializer, data)  # its 400, or the same items
        single_path = request.path.removesuffix("/batch")
        items = [_item(raw, single_path) for raw in data["items"]]
        results = reward_batch_create(
            program=self.program, items=items, actor=self.actor, render=_renderer()
        )
        # Each body was encoded once already (for its record): the response joins them.
        text = '{"results":[' + ",".join(r.as_json_text() for r in results) + "]}"
        return HttpResponse(text, content_type="application/json")
