"""Referral links in the operator console: a participant's links on their page (the inline
rules/admin.py shows) and the daily click counts, read-only (links are made through the API or
the portal, clicks by visitors)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from config.platform.admin.common import ReadOnlyAdmin, ReadOnlyInline, actor_of
from rules.links.analytics_admin import analytics_view
from rules.links.models import ClickDaily, Coupon, ReferralLink
from rules.links.services.coupons import coupon_code_taken, coupon_create


class ReferralLinkInline(ReadOnlyInline):
    model = ReferralLink
    fields = ["slug", "destination", "created_at"]
    readonly_fields = ["slug", "destination", "created_at"]
    show_change_link = False
    verbose_name = "named link"


class CouponInline(ReadOnlyInline):
    """A participant's coupon codes on their page; assigned at Coupons → Add (the participant
    prefilled with ?participant=<id>) or through the API."""

    model = Coupon
    fields = ["code", "created_at"]
    readonly_fields = ["code", "created_at"]
    show_change_link = False


class CouponForm(forms.ModelForm):
    class Meta:
        model = Coupon
        fields = ["participant", "code"]

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        participant, code = data.get("participant"), data.get("code")
        if participant is not None and code and coupon_code_taken(participant.program, code):
            self.add_error("code", "This code is already used in the program.")
        return data


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    """Coupon codes: added here (through the service: upper-cased, unique in the program,
    audited), never changed, since events were attributed by them."""

    list_display = ["code", "participant", "program", "created_at"]
    list_filter = ["program"]
    list_select_related = ["participant", "program"]
    search_fields = ["code", "participant__external_id"]
    raw_id_fields = ["participant"]
    fields = ["participant", "code"]
    form = CouponForm

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.ModelAdmin.has_add_permission(self, request)

    def save_model(
        self, request: HttpRequest, obj: Coupon, form: forms.ModelForm, change: bool
    ) -> None:
        created = coupon_create(participant=obj.participant, code=obj.code, actor=actor_of(request))
        obj.pk, obj.program_id, obj.code = created.pk, created.program_id, created.code


@admin.register(ClickDaily)
class ClickDailyAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "program",
        "participant",
        "link",
        "clicks",
        "unique_clicks",
        "bot_clicks",
    ]
    list_filter = ["program"]
    search_fields = ["participant__external_id", "participant__referral_code", "link__slug"]
    date_hierarchy = "day"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClickDaily]:
        return super().get_queryset(request).select_related("program", "participant", "link")

    def get_urls(self) -> list[URLPattern]:
        page = path(
            "analytics/",
            self.admin_site.admin_view(self.analytics_page),
            name="rules_clickdaily_analytics",
        )
        return [page, *super().get_urls()]

    def analytics_page(self, request: HttpRequest) -> HttpResponse:
        """The funnel by day (rules/links/analytics_admin.py), for whoever may see the clicks."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return analytics_view(request, self)
