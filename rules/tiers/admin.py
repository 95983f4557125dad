"""Partner tiers in the operator console: tiers with their criteria as fields (the revenue in
major units of the program's currency), and the read-only log of partners' tier changes with a
"Recompute now" action. Every write goes through rules.tiers.services (audited)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.platform.admin.common import (
    MoneyField,
    ProgramColumnMixin,
    ReadOnlyAdmin,
    actor_of,
    major_units,
    money,
)
from config.platform.exceptions import DomainError
from config.platform.models import Program
from rules.tiers.criteria import COUNT_MAX, WINDOW_DAYS_DEFAULT, WINDOW_DAYS_MAX
from rules.tiers.models import Tier, TierChange
from rules.tiers.services import tier_delete, tier_save, tiers_recompute_program


class TierForm(forms.ModelForm):
    window_days = forms.IntegerField(
        min_value=1,
        max_value=WINDOW_DAYS_MAX,
        initial=WINDOW_DAYS_DEFAULT,
        help_text="The rolling window the figures below are counted over, in days.",
    )
    min_referred_revenue = MoneyField(required=False, allow_zero=True)
    min_conversions = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=COUNT_MAX,
        help_text="Purchases and subscription payments by people the partner referred.",
    )
    min_active_referrals = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=COUNT_MAX,
        help_text="People the partner referred who had any event in the window.",
    )

    class Meta:
        model = Tier
        fields = ["program", "key", "name", "rank"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        criteria = self.instance.criteria or {}
        for name in ("window_days", "min_referred_revenue", "min_conversions"):
            if name in criteria:
                self.fields[name].initial = criteria[name]
        if "min_active_referrals" in criteria:
            self.fields["min_active_referrals"].initial = criteria["min_active_referrals"]
        currency = self._currency()
        field = self.fields["min_referred_revenue"]
        assert isinstance(field, MoneyField)
        field.currency = currency
        if currency:
            field.label = f"Min referred revenue ({currency})"
            field.help_text = (
                f"Net revenue of the people the partner referred, in {currency} as you would "
                f"write it: {major_units(500000, currency)} means {money(500000, currency)}."
            )
            field.widget.attrs.update(
                {"placeholder": f"e.g. {major_units(500000, currency)}", "data-currency": currency}
            )
        else:
            field.help_text = "In the program's currency, as you would write it (e.g. 5,000.00)."

    def _currency(self) -> str:
        if self.instance.pk is not None:
            return self.instance.program.currency
        chosen = self.data.get("program") if self.is_bound else self.initial.get("program")
        if chosen:
            program = (
                Program.objects.filter(pk=str(chosen)).first() if str(chosen).isdigit() else None
            )
            if program is not None:
                return program.currency
        only = list(Program.objects.values_list("currency", flat=True)[:2])
        return only[0] if len(only) == 1 else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        criteria: dict[str, int] = {}
        for name in (
            "window_days",
            "min_referred_revenue",
            "min_conversions",
            "min_active_referrals",
        ):
            if data.get(name) is not None:
                criteria[name] = data[name]
        self.instance.criteria = criteria
        program = data.get("program") or (self.instance.program if self.instance.pk else None)
        if program is not None:
            others = Tier.objects.filter(program=program).exclude(pk=self.instance.pk)
            if data.get("rank") is not None and others.filter(rank=data["rank"]).exists():
                self.add_error("rank", "Another tier of this program has this rank.")
            if data.get("key") and others.filter(key=data["key"]).exists():
                self.add_error("key", "Another tier of this program has this key.")
        return data


@admin.register(Tier)
class TierAdmin(ProgramColumnMixin, admin.ModelAdmin):
    form = TierForm
    list_display = ["name", "key", "rank", "criteria_text", "program_slug", "updated_at"]
    list_filter = ["program"]
    ordering = ["program", "-rank"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["recompute"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The key is what rules compare with and what partners hold: fixed once made.
        return ["program", "key", *self.readonly_fields] if obj else list(self.readonly_fields)

    @admin.display(description="Criteria")
    def criteria_text(self, obj: Tier) -> str:
        return tier_criteria_text(obj)

    def save_model(self, request: HttpRequest, obj: Tier, form: Any, change: bool) -> None:
        tier_save(tier=obj, actor=actor_of(request))
        tiers_recompute_program(program=obj.program, reason="recompute", actor=actor_of(request))

    def delete_model(self, request: HttpRequest, obj: Tier) -> None:
        program = obj.program
        tier_delete(tier=obj, actor=actor_of(request))
        tiers_recompute_program(program=program, reason="recompute", actor=actor_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tier]) -> None:
        programs = {t.program for t in queryset}
        for tier in queryset:
            tier_delete(tier=tier, actor=actor_of(request))
        for program in programs:
            tiers_recompute_program(program=program, reason="recompute", actor=actor_of(request))

    @admin.action(
        description="Recompute the partners' tiers of these programs now",
        permissions=["change"],  # it changes partners' tiers: not for those who only read
    )
    def recompute(self, request: HttpRequest, queryset: QuerySet[Tier]) -> None:
        for program in {t.program for t in queryset}:
            try:
                result = tiers_recompute_program(
                    program=program, reason="recompute", actor=actor_of(request)
                )
            except DomainError as exc:
                messages.error(request, f"{program.slug}: {exc.detail}")
                continue
            messages.success(
                request,
                f"{program.slug}: {result.checked} partners checked, "
                f"{len(result.changes)} tier changes.",
            )


def tier_criteria_text(tier: Tier) -> str:
    c = tier.criteria or {}
    parts = []
    if "min_referred_revenue" in c:
        parts.append(f"revenue ≥ {money(c['min_referred_revenue'], tier.program.currency)}")
    if "min_conversions" in c:
        parts.append(f"conversions ≥ {c['min_conversions']}")
    if "min_active_referrals" in c:
        parts.append(f"active referrals ≥ {c['min_active_referrals']}")
    window = c.get("window_days", WINDOW_DAYS_DEFAULT)
    return f"{', '.join(parts) or 'no requirement'} over {window} days"


@admin.register(TierChange)
class TierChangeAdmin(ProgramColumnMixin, ReadOnlyAdmin):
    list_display = ["at", "participant", "from_tier", "to_tier", "reason", "event_id"]
    list_filter = ["reason", "to_tier", "program"]
    search_fields = ["participant__external_id", "event_id"]
    readonly_fields = [
        "program",
        "participant",
        "from_tier",
        "to_tier",
        "reason",
        "event_id",
        "stats",
        "at",
    ]
    list_select_related = ["participant"]
