"""Programs in the operator console: their settings (commission rates, hold days, the payout
minimum, the fraud threshold, referral links and the partner portal's signup policy) edited
with a reason, and their API keys."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from config.platform.admin.common import (
    MoneyField,
    actor_of,
    money,
)
from config.platform.exceptions import ValidationFailed
from config.platform.models import Program
from rules.rewards.services.program_settings import links_settings_checked, program_update
from rules.rewards.services.programs import program_create

# Referral links (SPEC section 11) and the partner portal (section 12).
LINK_SETTINGS = [
    "landing_url",
    "allowed_domains",
    "attribution_window_days",
    "attribution_model",
    "partner_signup",
]

# The payout schedule (SPEC section 13).
PAYOUT_SETTINGS = ["payout_schedule", "payout_delay_days"]

KEEP_WHEN_EMPTY = (
    "attribution_window_days",
    "attribution_model",
    "partner_signup",
    *PAYOUT_SETTINGS,
)

PROGRAM_SETTINGS = [
    "name",
    "direct_rate_bps",
    "override_rate_bps",
    "hold_days",
    "min_payout",
    "fraud_amount_threshold",
    *PAYOUT_SETTINGS,
    *LINK_SETTINGS,
]


# Settings that are amounts: typed and shown in major units of the program's currency.
PROGRAM_MONEY = ("min_payout", "fraud_amount_threshold")


def program_changed(program: Program, before: dict[str, Any], after: dict[str, Any]) -> str:
    """What a save changed, amounts in major units: "Changed program acme: Minimum payout
    5.00 INR → 100.00 INR; Auto-confirm after (days) 0 → 14."."""

    def shown(field: str, value: Any) -> str:
        if field in PROGRAM_MONEY and isinstance(value, int):
            return money(value, program.currency)
        return "—" if value in (None, "", []) else str(value)

    pairs = ((f, shown(f, before.get(f)), shown(f, value)) for f, value in after.items())
    changes = [f"{PROGRAM_LABELS.get(f, f)} {old} → {new}" for f, old, new in pairs if old != new]
    if not changes:
        return f"Program {program.slug}: nothing changed."
    return f"Changed program {program.slug}: {'; '.join(changes)}."


PROGRAM_LABELS = {
    "slug": "Slug",
    "name": "Name",
    "currency": "Currency",
    "operation_set": "Operation set",
    "direct_rate_bps": "Direct commission (basis points)",
    "override_rate_bps": "Second-level commission (basis points)",
    "hold_days": "Auto-confirm after (days)",
    "min_payout": "Minimum payout",
    "fraud_amount_threshold": "Hold rewards above",
    "landing_url": "Landing page",
    "allowed_domains": "Allowed domains",
    "attribution_window_days": "Attribution window (days)",
    "attribution_model": "Attribution model",
    "partner_signup": "Partner signup",
    "payout_schedule": "Payout schedule",
    "payout_delay_days": "Monthly draft on day 1 +",
}


PROGRAM_HELP = {
    "slug": "Short name used in API addresses (for “acme”: /api/v1/programs/acme/…). Cannot "
    "be changed later.",
    "name": "How operators and reports name the program.",
    "currency": "ISO 4217 code, e.g. INR or USD. Every amount in the program is in this "
    "currency. Cannot be changed later.",
    "operation_set": "The credits operations the program offers; “core” is the standard set. "
    "Cannot be changed later.",
    "direct_rate_bps": "Commission for the direct referrer, in basis points of the order "
    "amount: 100 = 1%, 1000 = 10%.",
    "override_rate_bps": "Commission for the referrer's own referrer (second level), in basis "
    "points: 200 = 2%.",
    "hold_days": "Pending rewards confirm automatically after this many days (the refund "
    "window). 0 = never automatically: operators confirm them.",
    "min_payout": "The smallest amount one payout item may pay, in the program's currency as "
    "you would write it (for INR, 500 or 500.00 means 500.00 INR). Empty or 0 = no minimum.",
    "fraud_amount_threshold": "Rewards above this amount are held for review instead of "
    "confirming automatically, in the program's currency (for INR, 1,000.00 means 1,000.00 "
    "INR). Empty = no threshold.",
    "landing_url": "Where referral links (/r/CODE) send visitors, with ref and click_id added. "
    "https only; its host must be one of the allowed domains. Empty = links show “not found”.",
    "allowed_domains": "Host names links may lead to, one per line (each includes its "
    "subdomains: example.com allows shop.example.com). Named links with a destination elsewhere "
    "are refused.",
    "attribution_window_days": "How long after a click a signup or purchase still counts for "
    "the partner (1 to 365; also the rl_click cookie's lifetime).",
    "attribution_model": "Which click wins when a visitor clicked several partners' links.",
    "partner_signup": "Who may join the partner portal: closed = invited only, approval = "
    "anyone may apply and an operator approves, open = anyone.",
    "payout_schedule": "Monthly: a draft payout batch with everyone who can be paid (balance at "
    "least the minimum payout, payout method set) is prepared each month; a person submits it "
    "and another approves it. Manual: only when an operator prepares one.",
    "payout_delay_days": "Monthly drafts are prepared this many days after the 1st (0 to 27), "
    "e.g. 14 leaves two weeks for refunds of last month's orders.",
}


def _percent(bps: int) -> str:
    return f"{bps / 100:g}%"


class ProgramForm(forms.ModelForm):
    """Amounts in major units of the program's currency (MoneyField), stored as minor units. A
    new program's currency is typed in the same form: the money fields take it from there."""

    min_payout = MoneyField(required=False, allow_zero=True)
    fraud_amount_threshold = MoneyField(required=False, allow_zero=True)
    allowed_domains = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    class Meta:
        model = Program
        fields = ["slug", "currency", "operation_set", *PROGRAM_SETTINGS]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            currency = self.instance.currency
        else:
            currency = str(self.data.get("currency", "")).strip().upper()
        for name in PROGRAM_MONEY:
            if name not in self.fields:
                continue
            # Declared fields take no Meta labels: name the currency in the label, and say
            # what is set now, as the console shows money everywhere.
            field = self.fields[name]
            field.currency = currency  # type: ignore[attr-defined]
            field.label = PROGRAM_LABELS[name] + (f" ({currency})" if currency else "")
            field.help_text = PROGRAM_HELP[name]
            value = getattr(self.instance, name) if self.instance.pk else None
            if value:
                field.help_text += f" Now: {money(value, currency)}."
        if "allowed_domains" in self.fields:
            self.initial["allowed_domains"] = "\n".join(self.instance.allowed_domains or ())
        # Left out of a submitted form, a setting keeps its value (a new program: the default).
        for name in KEEP_WHEN_EMPTY:
            if name in self.fields:
                self.fields[name].required = False

    def clean_min_payout(self) -> int:
        return self.cleaned_data.get("min_payout") or 0

    def clean_allowed_domains(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_domains") or ""
        return [d.strip() for d in raw.replace(",", "\n").splitlines() if d.strip()]

    def clean(self) -> dict[str, Any]:
        """The link settings are checked as the service will check them, so a mistake is a
        form error next to its field rather than a failed save."""
        cleaned = super().clean() or {}
        for name in KEEP_WHEN_EMPTY:
            if name in self.fields and cleaned.get(name) in (None, ""):
                cleaned[name] = getattr(self.instance, name)
        changes = {f: cleaned[f] for f in LINK_SETTINGS if f in cleaned}
        try:
            checked = links_settings_checked(self.instance, changes)
        except ValidationFailed as exc:
            for error in exc.errors or ():
                field = str(error["field"]).split("[")[0]
                self.add_error(field if field in self.fields else None, error["message"])
            return cleaned
        cleaned.update(checked)
        return cleaned


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    form = ProgramForm
    list_display = [
        "slug",
        "name",
        "currency",
        "direct_rate",
        "override_rate",
        "hold_days_display",
        "min_payout_display",
        "fraud_threshold_display",
        "created_at",
    ]
    search_fields = ["slug", "name"]
    changelist_hint = (
        "A program is one referral scheme with its own currency, commissions, payout minimum "
        "and fraud threshold. Open one to change its settings; every change is audited."
    )
    empty_state = (
        "No programs yet. Use “Add program” (or the create_program command) to set one up; "
        "its ledger accounts are created with it."
    )

    @admin.display(description="Direct commission", ordering="direct_rate_bps")
    def direct_rate(self, program: Program) -> str:
        return _percent(program.direct_rate_bps)

    @admin.display(description="Second level", ordering="override_rate_bps")
    def override_rate(self, program: Program) -> str:
        return _percent(program.override_rate_bps)

    @admin.display(description="Auto-confirm after", ordering="hold_days")
    def hold_days_display(self, program: Program) -> str:
        if not program.hold_days:
            return "never (confirm by hand)"
        return f"{program.hold_days} day{'s' if program.hold_days != 1 else ''}"

    @admin.display(description="Minimum payout", ordering="min_payout")
    def min_payout_display(self, program: Program) -> str:
        return money(program.min_payout, program.currency) if program.min_payout else "none"

    @admin.display(description="Hold rewards above", ordering="fraud_amount_threshold")
    def fraud_threshold_display(self, program: Program) -> str:
        if program.fraud_amount_threshold is None:
            return "no threshold"
        return money(program.fraud_amount_threshold, program.currency)

    def get_fieldsets(self, request: HttpRequest, obj: Program | None = None):
        return [
            (None, {"fields": ["slug", "name", "currency", "operation_set"]}),
            ("Commissions", {"fields": ["direct_rate_bps", "override_rate_bps"]}),
            (
                "Confirmation, payouts and fraud review",
                {"fields": ["hold_days", "min_payout", "fraud_amount_threshold", *PAYOUT_SETTINGS]},
            ),
            ("Referral links and partners", {"fields": LINK_SETTINGS}),
        ]

    def get_form(self, request: HttpRequest, obj: Program | None = None, change=False, **kwargs):
        kwargs.setdefault("help_texts", PROGRAM_HELP)
        kwargs.setdefault("labels", PROGRAM_LABELS)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Program | None = None):
        # Slug, currency and operation set are fixed once money has moved.
        return ["slug", "currency", "operation_set"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def message_user(self, request: HttpRequest, message: Any, *args: Any, **kwargs: Any) -> None:
        # After a change, say what changed rather than Django's "… was changed successfully."
        message = getattr(request, "_program_changed", None) or message
        super().message_user(request, message, *args, **kwargs)

    def save_model(self, request: HttpRequest, obj: Program, form: Any, change: bool) -> None:
        settings = {f: form.cleaned_data[f] for f in PROGRAM_SETTINGS if f in form.cleaned_data}
        if change:
            before = {f: form.initial.get(f) for f in settings}
            program_update(program=obj, changes=settings, actor=actor_of(request))
            request._program_changed = program_changed(obj, before, settings)  # type: ignore[attr-defined]
            return
        created, _ = program_create(
            slug=obj.slug,
            name=obj.name,
            currency=obj.currency,
            operation_set=obj.operation_set,
            direct_rate_bps=obj.direct_rate_bps,
            override_rate_bps=obj.override_rate_bps,
            hold_days=obj.hold_days,
            min_payout=obj.min_payout,
            actor=actor_of(request),
        )
        # Settings program_create does not take, applied (and audited) once it exists.
        rest = {f: settings[f] for f in ("fraud_amount_threshold", *LINK_SETTINGS) if f in settings}
        changed = {f: v for f, v in rest.items() if v != getattr(created, f)}
        if changed:
            program_update(program=created, changes=changed, actor=actor_of(request))
        obj.pk = created.pk
