"""Admin for programs, API keys, the ledger (read-only) and the audit log."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from ledger import selectors
from ledger.admin_common import (
    MoneyField,
    ProgramColumnMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    actor_of,
    audit_value,
    export_csv,
    money,
    reason_page,
    status_badge,
)
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


# Settings that are amounts: typed and shown in major units of the program's currency.
PROGRAM_MONEY = ("min_payout", "fraud_amount_threshold")

PROGRAM_LABELS = {
    "slug": "Slug",
    "name": "Name",
    "currency": "Currency",
    "operation_set": "Operation set",
    "direct_rate_bps": "Direct commission (basis points)",
    "override_rate_bps": "Second-level commission (basis points)",
    "hold_days": "Auto-confirm after (days)",
    "min_payout": "Minimum payout",
    "fraud_amount_threshold": "Hold rewards above",
}

PROGRAM_HELP = {
    "slug": "Short name used in API addresses (for “acme”: /api/v1/programs/acme/…). Cannot "
    "be changed later.",
    "name": "How operators and reports name the program.",
    "currency": "ISO 4217 code, e.g. INR or USD. Every amount in the program is in this "
    "currency. Cannot be changed later.",
    "operation_set": "The credits operations the program offers; “core” is the standard set. "
    "Cannot be changed later.",
    "direct_rate_bps": "Commission for the direct referrer, in basis points of the order "
    "amount: 100 = 1%, 1000 = 10%.",
    "override_rate_bps": "Commission for the referrer's own referrer (second level), in basis "
    "points: 200 = 2%.",
    "hold_days": "Pending rewards confirm automatically after this many days (the refund "
    "window). 0 = never automatically: operators confirm them.",
    "min_payout": "The smallest amount one payout item may pay, in the program's currency as "
    "you would write it (for INR, 500 or 500.00 means 500.00 INR). Empty or 0 = no minimum.",
    "fraud_amount_threshold": "Rewards above this amount are held for review instead of "
    "confirming automatically, in the program's currency (for INR, 1,000.00 means 1,000.00 "
    "INR). Empty = no threshold.",
}


def _percent(bps: int) -> str:
    return f"{bps / 100:g}%"


class ProgramForm(forms.ModelForm):
    """Amounts in major units of the program's currency (MoneyField), stored as minor units. A
    new program's currency is typed in the same form: the money fields take it from there."""

    min_payout = MoneyField(required=False, allow_zero=True)
    fraud_amount_threshold = MoneyField(required=False, allow_zero=True)

    class Meta:
        model = Program
        fields = ["slug", "currency", "operation_set", *PROGRAM_SETTINGS]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            currency = self.instance.currency
        else:
            currency = str(self.data.get("currency", "")).strip().upper()
        for name in PROGRAM_MONEY:
            if name not in self.fields:
                continue
            # Declared fields take no Meta labels: name the currency in the label, and say
            # what is set now, as the console shows money everywhere.
            field = self.fields[name]
            field.currency = currency  # type: ignore[attr-defined]
            field.label = PROGRAM_LABELS[name] + (f" ({currency})" if currency else "")
            field.help_text = PROGRAM_HELP[name]
            value = getattr(self.instance, name) if self.instance.pk else None
            if value:
                field.help_text += f" Now: {money(value, currency)}."

    def clean_min_payout(self) -> int:
        return self.cleaned_data.get("min_payout") or 0


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    form = ProgramForm
    list_display = [
        "slug",
        "name",
        "currency",
        "direct_rate",
        "override_rate",
        "hold_days_display",
        "min_payout_display",
        "fraud_threshold_display",
        "created_at",
    ]
    search_fields = ["slug", "name"]
    changelist_hint = (
        "A program is one referral scheme with its own currency, commissions, payout minimum "
        "and fraud threshold. Open one to change its settings; every change is audited."
    )
    empty_state = (
        "No programs yet. Use “Add program” (or the create_program command) to set one up; "
        "its ledger accounts are created with it."
    )

    @admin.display(description="Direct commission", ordering="direct_rate_bps")
    def direct_rate(self, program: Program) -> str:
        return _percent(program.direct_rate_bps)

    @admin.display(description="Second level", ordering="override_rate_bps")
    def override_rate(self, program: Program) -> str:
        return _percent(program.override_rate_bps)

    @admin.display(description="Auto-confirm after", ordering="hold_days")
    def hold_days_display(self, program: Program) -> str:
        if not program.hold_days:
            return "never (confirm by hand)"
        return f"{program.hold_days} day{'s' if program.hold_days != 1 else ''}"

    @admin.display(description="Minimum payout", ordering="min_payout")
    def min_payout_display(self, program: Program) -> str:
        return money(program.min_payout, program.currency) if program.min_payout else "none"

    @admin.display(description="Hold rewards above", ordering="fraud_amount_threshold")
    def fraud_threshold_display(self, program: Program) -> str:
        if program.fraud_amount_threshold is None:
            return "no threshold"
        return money(program.fraud_amount_threshold, program.currency)

    def get_fieldsets(self, request: HttpRequest, obj: Program | None = None):
        return [
            (None, {"fields": ["slug", "name", "currency", "operation_set"]}),
            ("Commissions", {"fields": ["direct_rate_bps", "override_rate_bps"]}),
            (
                "Confirmation, payouts and fraud review",
                {"fields": ["hold_days", "min_payout", "fraud_amount_threshold"]},
            ),
        ]

    def get_form(self, request: HttpRequest, obj: Program | None = None, change=False, **kwargs):
        kwargs.setdefault("help_texts", PROGRAM_HELP)
        kwargs.setdefault("labels", PROGRAM_LABELS)
        return super().get_form(request, obj, change=change, **kwargs)

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


@admin.register(Account)
class AccountAdmin(ProgramColumnMixin, ReadOnlyAdmin):
    list_display = ["code", "kind", "currency", "overdraft", "program_slug", "created_at"]
    list_filter = ["program", "kind", "no_overdraft"]
    list_select_related = ["program"]
    search_fields = ["code"]
    search_help_text = "Account code, e.g. user:alice or program:payouts_clearing"
    readonly_fields = ("code", "kind", "currency", "no_overdraft", "program", "balance")
    fields = readonly_fields
    actions = [export_csv]
    csv_fields = ["program__slug", "code", "kind", "currency", "no_overdraft", "created_at"]
    changelist_hint = (
        "The ledger's accounts: one per participant and purpose (user:<id>:rewards, "
        "user:<id>:credits) and the program's own. Read-only; open one for its balance."
    )
    empty_state = "No accounts yet. A program's accounts are created with the program."

    @admin.display(description="Overdraft", ordering="no_overdraft")
    def overdraft(self, account: Account) -> str:
        return "not allowed" if account.no_overdraft else "allowed"

    @admin.display(description="Balance")
    def balance(self, account: Account) -> str:
        b = selectors.account_balance(account)
        cur = account.currency
        return format_html(
            "<table class='console-table'><tr><th>Posted</th><td>{}</td></tr>"
            "<tr><th>Pending</th><td>{}</td></tr><tr><th>Available</th><td>{}</td></tr></table>",
            money(b["posted"]["balance"], cur),
            money(b["pending"]["balance"], cur),
            money(b["available"], cur),
        )


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ("account", "direction", "amount_display", "kind")
    readonly_fields = fields
    show_change_link = False

    @admin.display(description="Amount")
    def amount_display(self, posting: Posting) -> str:
        return money(posting.amount, posting.currency)


def _idempotent_transactions(term: str) -> list[str]:
    """Transactions created through an Idempotency-Key: the stored response names them."""
    ids = []
    for body in IdempotencyRecord.objects.filter(key=term).values_list("response_body", flat=True):
        if isinstance(body, dict) and body.get("id"):
            ids.append(str(body["id"]))
    return ids


_UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def _debit_total() -> Subquery:
    """A transaction's amount: the sum of its debit postings (a subquery, so joins made by the
    search cannot multiply it)."""
    return Subquery(
        Posting.objects.filter(transaction=OuterRef("pk"), direction="debit")
        .values("transaction")
        .annotate(total=Sum("amount"))
        .values("total")[:1]
    )


@admin.register(Transaction)
class TransactionAdmin(ProgramColumnMixin, ReadOnlyAdmin):
    list_display = [
        "short_id",
        "kind_display",
        "status_display",
        "amount_display",
        "reference",
        "description_short",
        "program_slug",
        "created_at",
    ]
    list_display_links = ["short_id"]
    list_select_related = ["program", "resolution"]
    list_filter = ["program", "kind"]
    changelist_hint = (
        "Every money movement, read-only. A reward books a pending transaction; confirming "
        "posts it, reversing voids it. Search by account, reference or Idempotency-Key."
    )
    empty_state = "No transactions yet: nothing has moved money in the ledger."
    search_fields = ["reference", "description", "postings__account__code"]
    date_hierarchy = "created_at"
    inlines = [PostingInline]
    fields = (
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
    )
    readonly_fields = fields
    actions = [export_csv]
    csv_fields = ["id", "program__slug", "kind", "status", "reference", "description", "created_at"]
    search_help_text = "Account code (user:alice…), reference, description, id or Idempotency-Key"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(debit_total=_debit_total())

    @admin.display(description="ID", ordering="id")
    def short_id(self, txn: Transaction) -> str:
        return format_html("<code title='{}'>{}…</code>", txn.pk, str(txn.pk)[:8])

    @admin.display(description="Status")
    def status_display(self, txn: Transaction) -> str:
        return status_badge(txn.status)

    @admin.display(description="Amount", ordering="debit_total")
    def amount_display(self, txn: Transaction) -> str:
        return money(getattr(txn, "debit_total", None), txn.program.currency)

    @admin.display(description="Description", ordering="description")
    def description_short(self, txn: Transaction) -> str:
        # "post of <uuid>" reads better with the short id the ID column shows.
        return Truncator(_UUID.sub(r"\1…", txn.description)).chars(50)

    @admin.display(description="Type", ordering="kind")
    def kind_display(self, txn: Transaction) -> str:
        return txn.get_kind_display()

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
        "amount_display",
        "kind",
        "created_at",
    ]
    changelist_hint = "Each transaction's lines: one account debited or credited, read-only."
    empty_state = "No postings yet: nothing has moved money in the ledger."

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, posting: Posting) -> str:
        return money(posting.amount, posting.currency)

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
