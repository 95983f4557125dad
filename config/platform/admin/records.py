"""API keys and the audit log in the operator console."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from config.platform.admin.common import (
    ProgramColumnMixin,
    ReadOnlyAdmin,
    actor_of,
    audit_value,
    export_csv,
    reason_page,
    status_badge,
)
from config.platform.api_keys import api_key_create, api_key_revoke
from config.platform.models import ApiKey, AuditEntry


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ProgramColumnMixin, admin.ModelAdmin):
    list_display = [
        "key_prefix",
        "name",
        "owner",
        "program_slug",
        "status_display",
        "created_at",
    ]
    list_display_links = ["key_prefix", "name"]
    list_filter = [ApiKeyStatusFilter, "program"]
    list_select_related = ["program", "owner"]
    search_fields = ["prefix", "name", "owner__username"]
    search_help_text = "The key's first characters, its name or its owner"
    fields = ["program", "name"]
    actions = ["revoke"]
    changelist_hint = (
        "Keys that let a system call the API for one program. A key acts as its owner (the "
        "same person, with the same permissions): yours, or a service identity's when a "
        "superuser creates it. The full key is shown once, right after it is created; only "
        "its first characters are kept to recognise it."
    )
    empty_state = (
        "No API keys yet. Use “Add API key” for each system that calls the API (a shop, a "
        "backend); copy the key when it is shown."
    )

    @admin.display(description="Key starts with", ordering="prefix")
    def key_prefix(self, key: ApiKey) -> str:
        return format_html("<code>{}…</code>", key.prefix)

    @admin.display(description="Status", ordering="revoked_at")
    def status_display(self, key: ApiKey) -> str:
        if key.revoked_at is None:
            return status_badge("active")
        return status_badge("revoked", f"Revoked {key.revoked_at:%Y-%m-%d}")

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change=False, **kwargs):
        kwargs.setdefault(
            "help_texts",
            {
                "name": "Who uses the key, e.g. “checkout backend”, so you know which to revoke.",
                "owner": "The key acts as this user. Yourself, or (superusers) a service "
                "identity: a user that cannot log in, e.g. one made by "
                "`manage.py create_api_key <slug> --service NAME`.",
            },
        )
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "owner" in form.base_fields:
            from django.contrib.auth import get_user_model

            # Never a key that acts as another person: yourself or a service identity.
            form.base_fields["owner"].queryset = get_user_model().objects.filter(  # type: ignore[attr-defined]
                Q(pk=request.user.pk)
                | Q(is_staff=False, is_superuser=False, is_active=True, password__startswith="!")
            )
            form.base_fields["owner"].initial = request.user.pk
            form.base_fields["owner"].required = False  # empty: yourself
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        return ["program", "name", "owner", "prefix", "created_at", "revoked_at"] if obj else []

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        if obj is not None:
            return self.get_readonly_fields(request, obj)
        # A key manager's keys are their own; a superuser may name a service identity.
        return ["program", "owner", "name"] if request.user.is_superuser else ["program", "name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.add_apikey")

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        owner: Any = form.cleaned_data.get("owner") or request.user  # empty: yourself
        key, raw = api_key_create(
            program=obj.program,
            owner=owner,
            name=obj.name,
            created_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk = key.pk
        messages.warning(
            request,
            format_html(
                "New API key for {}, acting as {}: <code class='raw-api-key'>{}</code> — copy it "
                "now; it is shown only once (only a hash is stored).",
                obj.program.slug,
                owner.get_username(),
                raw,
            ),
        )

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):
        # Django's own "added successfully" message would bury the key: go to the list.
        return HttpResponseRedirect(reverse("admin:ledger_apikey_changelist"))

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet):
        return reason_page(
            self,
            request,
            queryset,
            title="Revoke API keys",
            verb="Revoke",
            call=lambda key, reason: api_key_revoke(
                api_key=cast(ApiKey, key), actor=actor_of(request), reason=reason
            ),
        )


# Audit object types with an admin page of their own: object_type → admin URL name.
AUDIT_OBJECT_PAGES = {
    "reward": "admin:ledger_reward_change",
    "payout_batch": "admin:ledger_payoutbatch_change",
    "reconciliation_run": "admin:ledger_reconciliationrun_change",
    "program": "admin:ledger_program_change",
    "api_key": "admin:ledger_apikey_change",
    "webhook_endpoint": "admin:ledger_webhookendpoint_change",
    "webhook_message": "admin:ledger_webhookmessage_change",
}


@admin.register(AuditEntry)
class AuditEntryAdmin(ProgramColumnMixin, ReadOnlyAdmin):
    list_display = ["when", "actor", "action", "object_link", "reason_short", "program_slug"]
    list_display_links = ["when"]
    list_filter = ["program", "action", "object_type"]
    list_select_related = ["program"]
    search_fields = ["actor", "object_id", "request_id", "reason"]
    search_help_text = "Who (user:alice, api_key:…), object id, request id or reason"
    date_hierarchy = "at"
    changelist_hint = (
        "Every change to money or settings: who did it, when, to what and why. Entries can "
        "never be edited or deleted."
    )
    empty_state = "No audit entries yet: nothing has changed."

    @admin.display(description="Object", ordering="object_type")
    def object_link(self, entry: AuditEntry) -> str:
        label = f"{entry.object_type.replace('_', ' ')} {entry.object_id}"
        page = AUDIT_OBJECT_PAGES.get(entry.object_type)
        if page is None:
            return label
        # Programs are audited by slug; their page is by primary key.
        pk = entry.program_id if entry.object_type == "program" else entry.object_id
        try:
            url = reverse(page, args=[pk])
        except NoReverseMatch:
            return label
        return format_html("<a href='{}'>{}</a>", url, label)

    @admin.display(description="When", ordering="at")
    def when(self, entry: AuditEntry) -> str:
        return timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Reason", ordering="reason")
    def reason_short(self, entry: AuditEntry) -> str:
        if not entry.reason:
            return "—"
        return format_html(
            "<span title='{}'>{}</span>", entry.reason, Truncator(entry.reason).chars(60)
        )

    fields = (
        "at",
        "program",
        "actor",
        "action",
        "object_type",
        "object_id",
        "changes",
        "reason",
        "request_id",
    )
    readonly_fields = fields
    actions = [export_csv]
    csv_fields = [
        "at",
        "program__slug",
        "actor",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "reason",
        "request_id",
    ]

    @admin.display(description="Before → after")
    def changes(self, entry: AuditEntry) -> str:
        before, after = entry.before or {}, entry.after or {}
        keys = sorted(set(before) | set(after))
        if not keys:
            return "—"
        # Money in major units with the currency, like every other page of the console.
        currency = after.get("currency") or before.get("currency")
        if not isinstance(currency, str):
            currency = entry.program.currency if entry.program else None
        kind = entry.object_type
        rows = (
            (
                k,
                audit_value(k, before[k], object_type=kind, currency=currency)
                if k in before
                else "—",
                audit_value(k, after[k], object_type=kind, currency=currency)
                if k in after
                else "—",
            )
            for k in keys
        )
        return format_html(
            "<table class='console-table'><tr><th>Field</th><th>Before</th><th>After</th></tr>"
            "{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )
