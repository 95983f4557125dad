"""The console's analytics page (/admin/rules/clickdaily/analytics/): the funnel clicks →
referrals → conversions → rewards by day for a date range, program-wide or for one partner,
drawn by static/admin_dashboard/analytics.js with the Chart.js the dashboard loads. It reads
through the same selector as `GET P/analytics` (rules/links/analytics.py)."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from config.platform.admin.common import money
from config.platform.currencies import currency_exponent
from config.platform.exceptions import NotFound
from config.platform.models import Program
from rules.links.analytics import MAX_DAYS, Analytics, analytics
from rules.selectors import participant_get


def programs() -> QuerySet[Program]:
    """The programs the page offers, by name; the first is the default."""
    return Program.objects.order_by("name")


class AnalyticsForm(forms.Form):
    program = forms.ModelChoiceField(
        queryset=Program.objects.none(), to_field_name="slug", required=False
    )
    start = forms.DateField(label="From", required=False, widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput({"type": "date"}))
    participant = forms.CharField(
        label="Partner",
        required=False,
        max_length=255,
        help_text="External id; empty: the whole program",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = programs()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        program = data.get("program") or programs().first()
        end = data.get("end") or timezone.now().astimezone(UTC).date()
        start = data.get("start") or end - timedelta(days=29)
        if start > end:
            self.add_error("start", "From must not be after To.")
        elif (end - start).days + 1 > MAX_DAYS["day"]:
            self.add_error("start", f"At most {MAX_DAYS['day']} days by day.")
        partner = None
        if program is not None and data.get("participant"):
            try:
                partner = participant_get(program=program, external_id=data["participant"])
            except NotFound:
                self.add_error("participant", "No such participant in this program.")
        return {**data, "program": program, "start": start, "end": end, "partner": partner}


def chart_data(result: Analytics) -> dict[str, Any]:
    """What analytics.js draws: one entry per day, amounts in minor units."""
    days = result.buckets
    return {
        "currency": result.currency,
        "exponent": currency_exponent(result.currency),
        "labels": [b.start.isoformat() for b in days],
        "clicks": [b.clicks for b in days],
        "referrals": [b.referrals for b in days],
        "conversions": [b.conversions for b in days],
        "rewards": [b.rewards_count for b in days],
        "amount": [b.rewards_amount for b in days],
    }


def analytics_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    # The form shows what it draws: the defaults fill the fields left empty.
    params = request.GET.copy()
    today = timezone.now().astimezone(UTC).date()
    params.setdefault("end", today.isoformat())
    params.setdefault("start", (today - timedelta(days=29)).isoformat())
    first = programs().first()
    if first is not None:
        params.setdefault("program", first.slug)
    form = AnalyticsForm(params)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": "Analytics",
        "opts": model_admin.model._meta,
        "form": form,
    }
    if form.is_valid():
        data = form.cleaned_data
        program = data["program"]
        if program is not None:
            result = analytics(
                program=program,
                start=data["start"],
                end=data["end"],
                interval="day",
                participant=data["partner"],
            )
            currency = program.currency
            context |= {
                "result": result,
                "chart": chart_data(result),
                "stages": [
                    ("Clicks", result.totals.clicks, None),
                    ("Referrals", result.totals.referrals, result.funnel["click_to_referral"]),
                    (
                        "Conversions",
                        result.totals.conversions,
                        result.funnel["referral_to_conversion"],
                    ),
                    (
                        "Rewards",
                        result.totals.rewards_count,
                        result.funnel["conversion_to_reward"],
                    ),
                ],
                "amounts": [
                    (status.replace("_", " "), tally["count"], money(tally["amount"], currency))
                    for status, tally in result.totals.rewards.items()
                ],
                "total_amount": money(result.totals.rewards_amount, currency),
            }
    return TemplateResponse(request, "admin/rules/analytics.html", context)
