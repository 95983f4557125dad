"""Admin for programs, API keys, the ledger (read-only) and the audit log."""

from __future__ import annotations

import contextlib
import re
import uuid

from django.contrib import admin
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator

from config.platform.admin.common import (
    ProgramColumnMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    export_csv,
    money,
    status_badge,
)
from config.platform.models import IdempotencyRecord
from ledger import selectors
from ledger.models import Account, Posting, Transaction


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
