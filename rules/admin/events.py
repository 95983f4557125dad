"""The operator's event pages: the list of received events and, on an event's page, why each
active rule of its trigger paid or did not (rules/event_explain.py, the sentences of
GET P/events/{id}/explain), money in major units with the currency. Read-only: events arrive
through the API."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.platform.admin.common import ReadOnlyAdmin, status_badge
from rules.event_explain import event_explanation
from rules.models import Event

_OUTCOMES = {
    "matched": "Matched",
    "not_matched": "Did not match",
    "suppressed": "Not evaluated",
    "skipped": "Skipped",
}


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "participant", "status", "attempts", "occurred_at"]
    list_filter = ["program", "status", "type"]
    search_fields = ["event_id", "participant__external_id"]
    list_select_related = ["participant", "program"]
    date_hierarchy = "occurred_at"
    readonly_fields = ["why"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "event_id",
                    "type",
                    "program",
                    "participant",
                    "status",
                    "attempts",
                    "occurred_at",
                    "created_at",
                    "processed_at",
                    "next_attempt_at",
                    "error",
                ]
            },
        ),
        ("Why it paid, or did not", {"fields": ["why"]}),
        ("Payload", {"fields": ["attributes", "data", "attribution"]}),
        ("Stored results", {"classes": ["collapse"], "fields": ["results", "refund"]}),
    ]

    @admin.display(description="Rules")
    def why(self, obj: Event) -> SafeString:
        explanation = event_explanation(obj)
        summary = explanation["sentences"][0]
        rows = format_html_join(
            "",
            '<li data-outcome="{}">{} {}</li>',
            (
                (
                    rule["outcome"],
                    status_badge(rule["outcome"], _OUTCOMES[rule["outcome"]]),
                    rule["sentence"],
                )
                for rule in explanation["rules"]
            ),
        )
        rule_sentences = {rule["sentence"] for rule in explanation["rules"]}
        notes = format_html_join(
            "",
            "<p>{}</p>",
            ((s,) for s in explanation["sentences"][1:] if s not in rule_sentences),
        )
        listed = format_html('<ul class="event-why">{}</ul>', rows) if explanation["rules"] else ""
        return format_html(
            '<div class="event-explanation"><p>{}</p>{}{}</div>', summary, listed, notes
        )
