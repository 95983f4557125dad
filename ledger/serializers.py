"""Input and output shapes of the ledger API. Input serializers only check shape and types;
rules about money live in the services."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger.models import Account, Posting, Transaction

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class StrictIntegerField(serializers.IntegerField):
    """An integer in minor units: JSON numbers only (no floats, no strings, no booleans)."""

    default_error_messages = {
        "invalid": "Must be an integer number of minor units (not a float or string)."
    }

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class AmountField(StrictIntegerField):
    def __init__(self, **kwargs: Any):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 10**15)
        super().__init__(**kwargs)


class CurrencyField(serializers.CharField):
    def __init__(self, **kwargs: Any):
        kwargs.setdefault("min_length", 3)
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not CURRENCY_RE.match(value):
            raise serializers.ValidationError("Must be an ISO 4217 code such as INR.")
        return value


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if type(data) is not bool:
            self.fail("invalid", input=data)
        return data


class JSONObjectField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return data


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields, so a typo ("ammount") is an error rather than silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({k: ["Unknown field."] for k in sorted(unknown)})
        return super().to_internal_value(data)


class AccountCreateSerializer(StrictSerializer):
    code = serializers.CharField(max_length=255)
    kind = serializers.ChoiceField(choices=Account.Kind.choices)
    currency = CurrencyField()
    no_overdraft = StrictBooleanField(required=False, default=False)


class BalancePartSerializer(serializers.Serializer):
    debits = serializers.IntegerField()
    credits = serializers.IntegerField()
    balance = serializers.IntegerField()


class AccountSerializer(serializers.Serializer):
    code = serializers.CharField()
    kind = serializers.CharField()
    currency = serializers.CharField()
    no_overdraft = serializers.BooleanField()
    posted = BalancePartSerializer()
    pending = BalancePartSerializer()
    available = serializers.IntegerField()
    as_of = serializers.DateTimeField(required=False)


class PostingInputSerializer(StrictSerializer):
    account = serializers.CharField(max_length=255)
    direction = serializers.ChoiceField(choices=["debit", "credit"])
    amount = AmountField()


class TransactionCreateSerializer(StrictSerializer):
    postings = PostingInputSerializer(many=True, allow_empty=False)
    pending = StrictBooleanField(required=False, default=False)
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500
    )
    metadata = JSONObjectField(required=False, default=dict)


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class PostingSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.code")

    class Meta:
        model = Posting
        fields = ["account", "direction", "amount", "currency"]


class TransactionSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    postings = PostingSerializer(many=True)
    reverses = serializers.UUIDField(source="reverses_id", allow_null=True)
    resolves = serializers.UUIDField(source="resolves_id", allow_null=True)

    class Meta:
        model = Transaction
        fields = [
            "id",
            "status",
            "kind",
            "postings",
            "description",
            "metadata",
            "reference",
            "reverses",
            "resolves",
            "created_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "posted", "voided"]))
    def get_status(self, obj: Transaction) -> str:
        return obj.status


class EntrySerializer(serializers.ModelSerializer):
    """A posting seen from its account (GET accounts/{code}/entries)."""

    transaction = serializers.UUIDField(source="transaction_id")
    account = serializers.CharField(source="account.code")

    class Meta:
        model = Posting
        fields = [
            "id",
            "transaction",
            "account",
            "direction",
            "amount",
            "currency",
            "kind",
            "created_at",
        ]
