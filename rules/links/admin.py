"""Referral links in the operator console: a participant's links on their page (the inline
rules/admin.py shows) and the daily click counts, read-only (links are made through the API or
the portal, clicks by visitors)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from config.platform.admin.common import ReadOnlyAdmin, ReadOnlyInline
from rules.links.analytics_admin import analytics_view
from rules.links.models import ClickDaily, ReferralLink


class ReferralLinkInline(ReadOnlyInline):
    model = ReferralLink
    fields = ["slug", "destination", "created_at"]
    readonly_fields = ["slug", "destination", "created_at"]
    show_change_link = False
    verbose_name = "named link"


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
