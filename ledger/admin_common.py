"""Building blocks of the operator console: read-only admins, CSV export, and actions that ask
for a reason on an intermediate page before calling a service."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ledger.exceptions import DomainError
from ledger.services.payouts import currency_exponent


def money(amount: int | None, currency: str) -> str:
    """Minor units as an operator reads them: 123456 INR → "1,234.56 INR"."""
    if amount is None:
        return "—"
    exponent = currency_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):,.{exponent}f} {currency}"


# How each status reads at a glance (a colour per tone in static/admin_dashboard/console.css).
STATUS_TONES = {
    "pending": "warn",
    "confirmed": "info",
    "paid": "ok",
    "reversed": "muted",
    "clawed_back": "alert",
    "draft": "muted",
    "pending_approval": "warn",
    "approved": "info",
    "executed": "ok",
    "rejected": "muted",
    "clean": "ok",
    "discrepancies": "alert",
    "posted": "ok",
    "voided": "muted",
    "active": "ok",
    "revoked": "muted",
}


def status_badge(value: str, label: str | None = None) -> SafeString:
    """A status as a small coloured label: "pending_approval" → "Pending approval"."""
    text = label or value.replace("_", " ").capitalize()
    return format_html(
        '<span class="status-badge tone-{}" data-status="{}">{}</span>',
        STATUS_TONES.get(value, "muted"),
        value,
        text,
    )


class ProgramColumnMixin:
    """A short "Program" column (the slug) instead of the long "Name (slug)"."""

    @admin.display(description="Program", ordering="program__slug")
    def program_slug(self, obj: Any) -> str:
        program = getattr(obj, "program", None)
        return program.slug if program else "—"


def actor_of(request: HttpRequest) -> str:
    """Staff users act as `user:<username>`, the same identity the API gives their session."""
    return f"user:{request.user.get_username()}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody adds, changes or deletes these rows here, superusers included: writes go through
    services (and the ledger's rows are append-only in the database anyway)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _cell(obj: Model, field: str) -> Any:
    value: Any = obj
    for part in field.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return ""
    return value() if callable(value) else value


@admin.action(description="Export selected rows as CSV")
def export_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    """Columns come from the admin's `csv_fields` (dotted with __ for related fields)."""
    fields: list[str] = modeladmin.csv_fields  # type: ignore[attr-defined]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = modeladmin.model._meta.model_name
    response["Content-Disposition"] = f'attachment; filename="{name}s.csv"'
    writer = csv.writer(response)
    writer.writerow(fields)
    for obj in queryset.iterator(chunk_size=2000):
        writer.writerow([_cell(obj, f) for f in fields])
    return response


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Recorded in the audit log (for rewards, also in the reward's history).",
    )


def run_for_each(
    request: HttpRequest,
    objects: Iterable[Model],
    call: Callable[[Model], Any],
    *,
    done: str,
) -> int:
    """Call a service per object, each in its own database transaction (the service's), and
    report what happened: one refused object does not undo the others."""
    succeeded = 0
    for obj in objects:
        try:
            call(obj)
        except DomainError as exc:
            messages.error(request, f"{obj}: {exc.detail}")
        else:
            succeeded += 1
    if succeeded:
        messages.success(request, f"{done}: {succeeded}.")
    return succeeded


def reason_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    verb: str,
    call: Callable[[Model, str], Any],
    reason_required: bool = True,
) -> TemplateResponse | None:
    """An admin action's intermediate page: show the selected objects, ask for a reason, then
    call the service for each. Returning None sends the user back to the change list."""
    if request.POST.get("confirmed"):
        form = ReasonForm(request.POST)
        form.fields["reason"].required = reason_required
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            run_for_each(request, queryset, lambda obj: call(obj, reason), done=verb)
            return None
    else:
        form = ReasonForm()
        form.fields["reason"].required = reason_required
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "objects": list(queryset),
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
        "opts": opts,
        "verb": verb,
        "reason_required": reason_required,
        "cancel_url": request.get_full_path(),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/ledger/reason_form.html", context)
