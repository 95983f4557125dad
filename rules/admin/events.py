"""The operator's event pages: the list of received events and, on an event's page, why each
active rule of its trigger paid or did not (rules/event_explain.py). Read-only: events arrive
through the API."""

from __future__ import annotations

from django.contrib import admin

from config.platform.admin.common import ReadOnlyAdmin
from rules.models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "participant", "status", "attempts", "occurred_at"]
    list_filter = ["program", "status", "type"]
    search_fields = ["event_id", "participant__external_id"]
    list_select_related = ["participant", "program"]
    date_hierarchy = "occurred_at"
