"""A participant's payout method (SPEC §13). Thin: validate, call one service, render. The
details are shown masked, always; nothing here can read them decrypted."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.platform.api.serializers import StrictSerializer, rendered, validated
from config.platform.api.views import ProgramAPIView
from config.platform.exceptions import NotFound
from rules.rewards.models import PayoutMethod
from rules.rewards.participants import participant_pk
from rules.rewards.payout_selectors import payout_method_required
from rules.rewards.services.payout_methods import payout_method_set

DETAILS_HELP = (
    'By method: paypal {"email"}; stripe_connect {"account": "acct_…"}; bank_transfer '
    '{"name", "iban", "bic"?} or {"name", "account_number", "ifsc"}; upi {"vpa"}; manual '
    '{"note"?}. Unknown fields are 400.'
)


class PayoutMethodSetSerializer(StrictSerializer):
    method = serializers.ChoiceField(PayoutMethod.Method.choices)
    details = serializers.DictField(required=False, default=dict, help_text=DETAILS_HELP)


class PayoutMethodSerializer(serializers.ModelSerializer):
    participant = serializers.CharField(source="beneficiary")
    details = serializers.DictField(
        source="masked",
        child=serializers.CharField(),
        help_text="Masked: e-mail and UPI addresses keep their first letter and domain, "
        "account numbers, IBANs and Stripe accounts their last 4 characters.",
    )

    class Meta:
        model = PayoutMethod
        fields = ["participant", "method", "details", "updated_by", "updated_at"]


class PayoutMethodApi(ProgramAPIView):
    required_permissions = {
        "GET": "ledger.view_payoutmethod",
        "PUT": "ledger.change_payoutmethod",
    }

    @extend_schema(
        responses=PayoutMethodSerializer,
        description="The participant's payout method, masked. 404 for an unknown participant "
        "or one without a payout method.",
    )
    def get(self, request: Request, program: str, external_id: str) -> Response:
        if participant_pk(program_id=self.program.pk, external_id=external_id) is None:
            raise NotFound(f"No participant {external_id}.")
        method = payout_method_required(program=self.program, beneficiary=external_id)
        return Response(rendered(PayoutMethodSerializer, method))

    @extend_schema(
        request=PayoutMethodSetSerializer,
        responses=PayoutMethodSerializer,
        description="Set or replace where the participant is paid. The details are validated "
        "(e-mail, IBAN check digits, IFSC, UPI address, Stripe account id), encrypted at rest "
        "and returned masked; the change is audited (masked too).",
    )
    def put(self, request: Request, program: str, external_id: str) -> Response:
        data = validated(PayoutMethodSetSerializer, request.data)
        method = payout_method_set(
            program=self.program,
            beneficiary=external_id,
            method=data["method"],
            details=data["details"],
            actor=self.actor,
        )
        return Response(rendered(PayoutMethodSerializer, method))
