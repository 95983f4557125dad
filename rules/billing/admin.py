"""The billing connector in the operator console: integrations (the signing secret is
write-only: a masked hint is all the page shows) and the delivery log, with a "Replay"
action (audited; needs `billing.replay_delivery`)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from config.platform.admin.common import SUBJECTS, ReadOnlyAdmin, actor_of, run_for_each
from rules.billing.models import Delivery, Integration
from rules.billing.services.integrations import integration_put
from rules.billing.services.processing import delivery_replay


class IntegrationForm(forms.ModelForm):
    signing_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored secret.",
    )

    class Meta:
        model = Integration
        fields = ["program", "provider", "refund_policy", "mapping", "active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None and not data.get("signing_secret"):
            self.add_error("signing_secret", "A new integration needs its signing secret.")
        return data


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["provider", "program", "refund_policy", "secret_hint", "active", "updated_at"]
    list_filter = ["provider", "refund_policy", "active", "program"]
    readonly_fields = ["secret_hint", "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = ["program", "provider"] if obj else []
        return [*fixed, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Integration, form, change: bool) -> None:
        data = form.cleaned_data
        saved, _ = integration_put(
            program=obj.program,
            provider=obj.provider,
            signing_secret=data.get("signing_secret") or None,
            refund_policy=data.get("refund_policy"),
            mapping=data.get("mapping") or {},
            active=data.get("active"),
            actor=actor_of(request),
        )
        obj.pk = saved.pk


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "provider",
        "event_type",
        "provider_event_id",
        "status",
        "event_id",
        "reason_short",
        "program",
    ]
    list_filter = ["status", "provider", "event_type", "program"]
    search_fields = ["provider_event_id", "event_id"]
    readonly_fields = [
        "program",
        "provider",
        "provider_event_id",
        "event_type",
        "status",
        "event_id",
        "reason",
        "waiting_for",
        "attempts",
        "next_attempt_at",
        "received_at",
        "processed_at",
        "headers",
        "body",
    ]
    actions = ["replay"]
    date_hierarchy = "received_at"

    @admin.display(description="Reason")
    def reason_short(self, delivery: Delivery) -> str:
        return delivery.reason[:120]

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.replay_delivery")

    @admin.action(description="Replay selected deliveries", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = actor_of(request)
        run_for_each(
            request,
            queryset,
            lambda delivery: delivery_replay(delivery=cast(Delivery, delivery), actor=actor),
            done="Replayed",
        )


SUBJECTS[Delivery] = lambda d: f"{d.provider} delivery {d.pk} ({d.event_type})"
