"""Participants' payout methods in the operator console (SPEC §13). The details are shown
masked; an operator replaces them by typing new ones (the stored ones are never decrypted
here). Saving calls the same service as the API, audited the same way."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join

from config.platform.admin.common import ProgramColumnMixin, actor_of
from config.platform.exceptions import DomainError
from config.platform.models import Program
from rules.rewards.models import PayoutMethod
from rules.rewards.services.payout_methods import payout_method_set, payout_method_validate

DETAIL_FIELDS = {
    "email": "PayPal e-mail (paypal)",
    "account": "Stripe connected account, acct_… (stripe_connect)",
    "name": "Account holder's name (bank_transfer)",
    "iban": "IBAN (bank_transfer)",
    "bic": "BIC, optional with an IBAN (bank_transfer)",
    "account_number": "Account number (bank_transfer, with IFSC)",
    "ifsc": "IFSC (bank_transfer, with account number)",
    "vpa": "UPI address, name@bank (upi)",
    "note": "Note (manual)",
}


class PayoutMethodForm(forms.ModelForm):
    program = forms.ModelChoiceField(queryset=Program.objects.all())
    beneficiary = forms.CharField(max_length=200, help_text="The participant's external id.")

    class Meta:
        model = PayoutMethod
        fields = ["program", "beneficiary", "method"]

    # One optional field per detail; only those the chosen method takes may be filled.
    email = forms.CharField(label=DETAIL_FIELDS["email"], required=False, max_length=500)
    account = forms.CharField(label=DETAIL_FIELDS["account"], required=False, max_length=500)
    name = forms.CharField(label=DETAIL_FIELDS["name"], required=False, max_length=500)
    iban = forms.CharField(label=DETAIL_FIELDS["iban"], required=False, max_length=500)
    bic = forms.CharField(label=DETAIL_FIELDS["bic"], required=False, max_length=500)
    account_number = forms.CharField(
        label=DETAIL_FIELDS["account_number"], required=False, max_length=500
    )
    ifsc = forms.CharField(label=DETAIL_FIELDS["ifsc"], required=False, max_length=500)
    vpa = forms.CharField(label=DETAIL_FIELDS["vpa"], required=False, max_length=500)
    note = forms.CharField(label=DETAIL_FIELDS["note"], required=False, max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["program"].disabled = True
            self.fields["beneficiary"].disabled = True
            self.fields[
                "method"
            ].help_text = (
                "Stored details stay hidden: type the new details in full to replace them."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["details"] = {k: cleaned[k] for k in DETAIL_FIELDS if cleaned.get(k)}
        program = self.instance.program if self.instance.pk else cleaned.get("program")
        beneficiary = self.instance.beneficiary if self.instance.pk else cleaned.get("beneficiary")
        if self.errors or program is None or not beneficiary:
            return cleaned
        try:  # the service's checks as form errors, before anything is saved
            payout_method_validate(
                program=program,
                beneficiary=beneficiary,
                method=cleaned.get("method"),
                details=cleaned["details"],
            )
        except DomainError as exc:
            for error in exc.errors or [{"message": exc.detail}]:
                field = str(error.get("field", "")).removeprefix("details.")
                self.add_error(field if field in self.fields else None, error["message"])
        return cleaned


@admin.register(PayoutMethod)
class PayoutMethodAdmin(ProgramColumnMixin, admin.ModelAdmin):
    form = PayoutMethodForm
    list_display = [
        "beneficiary",
        "program_slug",
        "method",
        "details_masked",
        "updated_by",
        "updated_at",
    ]
    list_filter = ["method", "program"]
    search_fields = ["beneficiary"]
    readonly_fields = ["details_masked", "updated_by", "updated_at"]
    changelist_hint = (
        "Where each partner is paid. Partners set it in the portal's payout details page; "
        "details are stored encrypted and shown masked."
    )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = ["program", "beneficiary", "method", *DETAIL_FIELDS]
        return [*shown, "details_masked", "updated_by", "updated_at"] if obj else shown

    @admin.display(description="Details (masked)")
    def details_masked(self, method: PayoutMethod) -> str:
        return format_html_join(", ", "{}: {}", sorted(method.masked.items())) or "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PayoutMethod, form: Any, change: bool) -> None:
        saved = payout_method_set(
            program=form.cleaned_data["program"] if not change else obj.program,
            beneficiary=form.cleaned_data["beneficiary"] if not change else obj.beneficiary,
            method=form.cleaned_data["method"],
            details=form.cleaned_data["details"],
            actor=actor_of(request),
        )
        obj.pk, obj.masked, obj.updated_at = saved.pk, saved.masked, saved.updated_at
