"""Admin for programs, API keys, the ledger (read-only) and the audit log."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ledger import selectors
from ledger.admin_common import ReadOnlyAdmin, ReadOnlyInline, actor_of, export_csv, reason_page
from ledger.models import (
    Account,
    ApiKey,
    AuditEntry,
    IdempotencyRecord,
    Posting,
    Program,
    Transaction,
)
from ledger.services.program_settings import program_update
from ledger.services.programs import api_key_create, api_key_revoke, program_create

PROGRAM_SETTINGS = [
    "name",
    "direct_rate_bps",
    "override_rate_bps",
    "hold_days",
    "min_payout",
    "fraud_amount_threshold",
]


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "currency", "min_payout", "hold_days", "created_at"]
    search_fields = ["slug", "name"]

    def get_fields(self, request: HttpRequest, obj: Program | None = None) -> list[str]:
        head = ["slug", "currency", "operation_set"]
        return [*head, *PROGRAM_SETTINGS]

    def get_readonly_fields(self, request: HttpRequest, obj: Program | None = None):
        # Slug, currency and operation set are fixed once money has moved.
        return ["slug", "currency", "operation_set"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Program, form: Any, change: bool) -> None:
        settings = {f: form.cleaned_data[f] for f in PROGRAM_SETTINGS if f in form.cleaned_data}
        if change:
            program_update(program=obj, changes=settings, actor=actor_of(request))
            return
        created, _ = program_create(
            slug=obj.slug,
            name=obj.name,
            currency=obj.currency,
            operation_set=obj.operation_set,
            direct_rate_bps=obj.direct_rate_bps,
            override_rate_bps=obj.override_rate_bps,
            hold_days=obj.hold_days,
            min_payout=obj.min_payout,
            actor=actor_of(request),
        )
        rest = {"fraud_amount_threshold": settings.get("fraud_amount_threshold")}
        if rest["fraud_amount_threshold"] is not None:
            program_update(program=created, changes=rest, actor=actor_of(request))
        obj.pk = created.pk


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "program", "created_at", "revoked_at"]
    list_filter = ["program", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name"]
    fields = ["program", "name"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        return ["program", "name", "prefix", "created_at", "revoked_at"] if obj else []

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        return self.get_readonly_fields(request, obj) if obj else ["program", "name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.add_apikey")

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        key, raw = api_key_create(program=obj.program, name=obj.name, actor=actor_of(request))
        obj.pk = key.pk
        messages.warning(
            request,
            format_html(
                "New API key for {}: <code class='raw-api-key'>{}</code> — copy it now; it is "
                "shown only once (only a hash is stored).",
                obj.program.slug,
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
                api_key=key, actor=actor_of(request), reason=reason
            ),
        )


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "kind", "currency", "no_overdraft", "program", "created_at"]
    list_filter = ["program", "kind", "no_overdraft"]
    search_fields = ["code"]
    readonly_fields = ["code", "kind", "currency", "no_overdraft", "program", "balance"]
    fields = readonly_fields
    actions = [export_csv]
    csv_fields = ["program__slug", "code", "kind", "currency", "no_overdraft", "created_at"]

    @admin.display(description="Balance")
    def balance(self, account: Account) -> str:
        b = selectors.account_balance(account)
        return (
            f"posted {b['posted']['balance']}, pending {b['pending']['balance']}, "
            f"available {b['available']} {account.currency} (minor units)"
        )


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ["account", "direction", "amount", "currency", "kind"]
    readonly_fields = fields
    show_change_link = False


def _idempotent_transactions(term: str) -> list[str]:
    """Transactions created through an Idempotency-Key: the stored response names them."""
    ids = []
    for body in IdempotencyRecord.objects.filter(key=term).values_list("response_body", flat=True):
        if isinstance(body, dict) and body.get("id"):
            ids.append(str(body["id"]))
    return ids


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "reference", "description", "program", "created_at"]
    list_filter = ["program", "kind"]
    search_fields = ["reference", "description", "postings__account__code"]
    date_hierarchy = "created_at"
    inlines = [PostingInline]
    fields = [
        "id",
        "program",
        "kind",
        "status",
        "reference",
        "description",
        "metadata",
        "resolves",
        "reverses",
        "created_at",
    ]
    readonly_fields = fields
    actions = [export_csv]
    csv_fields = ["id", "program__slug", "kind", "status", "reference", "description", "created_at"]
    search_help_text = "Account code (user:alice…), reference, description, id or Idempotency-Key"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        extra = Q(pk__in=_idempotent_transactions(term))
        with contextlib.suppress(ValueError):
            extra |= Q(pk=uuid.UUID(term))
        return results | queryset.filter(extra), True


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = [
        "transaction",
        "account",
        "direction",
        "amount",
        "currency",
        "kind",
        "created_at",
    ]
    list_filter = ["kind", "direction", "account__program"]
    search_fields = ["account__code", "transaction__reference"]
    list_select_related = ["transaction", "account"]
    actions = [export_csv]
    csv_fields = [
        "transaction_id",
        "account__code",
        "direction",
        "amount",
        "currency",
        "kind",
        "created_at",
    ]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id", "reason", "program"]
    list_filter = ["program", "action", "object_type"]
    search_fields = ["actor", "object_id", "request_id", "reason"]
    date_hierarchy = "at"
    fields = [
        "at",
        "program",
        "actor",
        "action",
        "object_type",
        "object_id",
        "changes",
        "reason",
        "request_id",
    ]
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
        keys = sorted(set(entry.before or {}) | set(entry.after or {}))
        if not keys:
            return "—"
        rows = (
            (k, (entry.before or {}).get(k, "—"), (entry.after or {}).get(k, "—")) for k in keys
        )
        return format_html(
            "<table><tr><th>field</th><th>before</th><th>after</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )
