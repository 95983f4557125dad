"""Input and output shapes of the ledger API. Input serializers only check shape and types;
rules about money live in the services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.platform.api.serializers import (
    AmountField,
    CurrencyField,
    JSONObjectField,
    StrictBooleanField,
    StrictSerializer,
)
from ledger.models import Account, Posting, Transaction


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


class PostingSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.code")

    class Meta:
        model = Posting
        fields = ["account", "direction", "amount", "currency"]


class TransactionSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    postings = PostingSerializer(many=True)
    reverses = serializers.SerializerMethodField()
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

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_reverses(self, obj: Transaction) -> str | None:
        # Reversing a posted two-phase transfer books against its internal `post`; the caller
        # reversed the pending transaction's id, so that is the one reported (SPEC §3).
        original = obj.reverses
        if original is None:
            return None
        return str(original.resolves_id if original.kind == Transaction.Kind.POST else original.pk)


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
