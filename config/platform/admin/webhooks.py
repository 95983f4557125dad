"""Webhooks in the operator console: endpoints (created and changed through the services, the
secret shown once), the outbox messages with their delivery log, and a "Redeliver" action."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.platform.admin.common import (
    SUBJECTS,
    ReadOnlyAdmin,
    ReadOnlyInline,
    actor_of,
    run_for_each,
)
from config.platform.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from config.platform.webhooks.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)
from config.platform.webhooks.events import webhook_event_types
from config.platform.webhooks.services import webhook_redeliver


def _event_type_choices() -> list[tuple[str, str]]:
    """Read when a form is made: the apps register their types at start-up, after this module
    was imported by the admin's autodiscovery."""
    return [(e, e) for e in webhook_event_types()]


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=_event_type_choices, widget=forms.CheckboxSelectMultiple
    )
    rotate_secret = forms.BooleanField(
        required=False, help_text="Make a new signing secret; it is shown once after saving."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["program", "url", "events", "description", "active"]


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fk_name = "message"
    fields = ("attempt", "at", "status_code", "success", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields
    show_change_link = False
    ordering = ["-at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "program", "events_list", "active", "created_at"]
    list_filter = ["active", "program"]
    search_fields = ["url", "description"]

    @admin.display(description="Events")
    def events_list(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["program"] if obj else []

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:  # a new endpoint always gets a fresh secret
            form.base_fields.pop("rotate_secret", None)
        return form

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = webhook_endpoint_update(
                endpoint=obj,
                actor=actor_of(request),
                url=data["url"],
                events=list(data["events"]),
                description=data["description"],
                active=data["active"],
                rotate_secret=data.get("rotate_secret", False),
            )
        else:
            saved = webhook_endpoint_create(
                program=data["program"],
                url=data["url"],
                events=list(data["events"]),
                description=data["description"],
                active=data["active"],
                actor=actor_of(request),
            )
        obj.pk = saved.pk
        if not change or data.get("rotate_secret"):
            messages.warning(
                request,
                f"Signing secret for {saved.url}: {saved.secret} — copy it now, it is not shown "
                "again.",
            )

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        webhook_endpoint_delete(endpoint=obj, actor=actor_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            self.delete_model(request, endpoint)


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "endpoint", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "event_type", "program"]
    search_fields = ["event_id", "endpoint__url"]
    readonly_fields = [
        "id",
        "program",
        "endpoint",
        "event_id",
        "event_type",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    inlines = [DeliveryInline]
    actions = ["redeliver"]
    date_hierarchy = "created_at"

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.change_webhookmessage")

    @admin.action(description="Redeliver selected messages", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = actor_of(request)
        run_for_each(
            request,
            queryset.select_related("endpoint"),
            lambda message: webhook_redeliver(message=cast(WebhookMessage, message), actor=actor),
            done="Requeued",
        )


# "Requeued webhook message 5 (reward.confirmed to https://shop.example/hooks)."
SUBJECTS[WebhookMessage] = lambda m: f"webhook message {m.pk} ({m.event_type} to {m.endpoint.url})"
