"""Admin for reconciliation runs: each stored run's checks and findings, and "Run now"."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from config.platform.admin.common import ReadOnlyAdmin, actor_of, status_badge
from config.platform.models import Program
from ledger.models import ReconciliationRun
from ledger.services.reconciliation_runs import reconciliation_record

# What each check proves, for the run's page.
CHECK_LABELS = {
    "transactions_balanced": "Every transaction's debits equal its credits",
    "debits_equal_credits": "Total debits equal total credits",
    "stored_totals_match_postings": "Stored account balances match their postings",
    "no_overdraft_respected": "No account that forbids overdraft is negative",
    "reward_states": "Each reward's status matches its ledger transactions",
    "clawback_transfers": "Each clawed-back reward has its clawback transfer",
    "payout_transfers": "Each executed payout item has its transfer",
}


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "status_display", "scope", "findings_count", "actor", "finished_at"]
    list_filter = ["status", "program"]
    list_select_related = ["program"]
    date_hierarchy = "finished_at"
    fields = (
        "status_display",
        "scope",
        "actor",
        "started_at",
        "finished_at",
        "checks_table",
        "findings_list",
    )
    readonly_fields = fields
    change_list_template = "admin/ledger/reconciliationrun/change_list.html"
    changelist_hint = (
        "Each run proves the books balance: every check of the ledger, rewards and payouts. "
        "A nightly run is scheduled; “Run now” starts one immediately."
    )
    empty_state = (
        "No reconciliation has run yet. Use “Run now” to check all programs (or one); the "
        "nightly scheduled run will also appear here."
    )

    @admin.display(description="Status", ordering="status")
    def status_display(self, run: ReconciliationRun) -> str:
        return status_badge(run.status, run.get_status_display())

    @admin.display(description="Scope", ordering="program__slug")
    def scope(self, run: ReconciliationRun) -> str:
        return run.program.slug if run.program else "all programs"

    @admin.display(description="Findings")
    def findings_count(self, run: ReconciliationRun) -> int:
        return len(run.findings)

    @admin.display(description="Checks")
    def checks_table(self, run: ReconciliationRun) -> str:
        rows = (
            (
                CHECK_LABELS.get(c["name"], c["name"]),
                c["name"],
                status_badge(c["status"]),
                c["findings"],
            )
            for c in run.checks
        )
        return format_html(
            "<table class='console-table'><tr><th>Check</th><th>Name</th><th>Result</th>"
            "<th>Findings</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                rows,
            ),
        )

    @admin.display(description="Findings")
    def findings_list(self, run: ReconciliationRun) -> str:
        if not run.findings:
            return "None: every check passed, the books balance."
        return format_html("<pre>{}</pre>", json.dumps(run.findings, indent=2, default=str))

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.add_reconciliationrun")

    def get_urls(self):
        return [
            path(
                "run/",
                self.admin_site.admin_view(self.run_view),
                name="ledger_reconciliationrun_run",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra = {
            "can_run": self.has_run_permission(request),
            "programs": Program.objects.all(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def run_view(self, request: HttpRequest):
        if request.method != "POST" or not self.has_run_permission(request):
            raise PermissionDenied
        # One program, or (empty) all of them; anything else is refused, never a 500 (a
        # program that is not a number) nor silently a run of all programs.
        chosen = request.POST.get("program") or ""
        program = None
        if chosen:
            if chosen.isascii() and chosen.isdigit():
                program = Program.objects.filter(pk=int(chosen)).first()
            if program is None:
                messages.error(request, "No such program: nothing was run.")
                return HttpResponseRedirect(reverse("admin:ledger_reconciliationrun_changelist"))
        run = reconciliation_record(program=program, actor=actor_of(request))
        level = messages.SUCCESS if run.status == "clean" else messages.WARNING
        scope = program.slug if program else "all programs"
        messages.add_message(
            request,
            level,
            f"Reconciliation run {run.pk} of {scope}: {run.status} "
            f"({len(run.findings)} finding{'' if len(run.findings) == 1 else 's'}).",
        )
        return HttpResponseRedirect(reverse("admin:ledger_reconciliationrun_change", args=[run.pk]))
