"""Basic admin for the rules app. Changes to rules go through the API / builder (versions are
immutable), so versions and events are read-only here."""

from __future__ import annotations

from django.contrib import admin

from rules.models import Event, Participant, Referral, Rule, RuleProgramConfig, RuleVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "program", "referral_code", "created_at"]
    list_filter = ["program"]
    search_fields = ["external_id", "referral_code"]


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ["referrer", "referred", "program", "created_at"]
    list_filter = ["program"]
    search_fields = ["referrer__external_id", "referred__external_id"]
    list_select_related = ["referrer", "referred", "program"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "participant", "status", "attempts", "occurred_at"]
    list_filter = ["program", "status", "type"]
    search_fields = ["event_id", "participant__external_id"]
    list_select_related = ["participant", "program"]
    date_hierarchy = "occurred_at"


class RuleVersionInline(admin.TabularInline):
    model = RuleVersion
    fields = ["version", "definition", "created_by", "created_at"]
    readonly_fields = ["version", "definition", "created_by", "created_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdmin):
    list_display = ["name", "program", "status", "trigger", "priority", "latest_version"]
    list_filter = ["program", "status", "trigger"]
    search_fields = ["name"]
    inlines = [RuleVersionInline]


@admin.register(RuleVersion)
class RuleVersionAdmin(ReadOnlyAdmin):
    list_display = ["rule", "version", "created_by", "created_at"]
    list_filter = ["rule__program"]


@admin.register(RuleProgramConfig)
class RuleProgramConfigAdmin(admin.ModelAdmin):
    list_display = ["program", "fraud_max_referrals_per_hour"]
