"""Admin for payout batches (two-person control). Buttons post to small views that call the
same services as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import Truncator

from config.platform.admin.common import (
    MoneyField,
    ProgramColumnMixin,
    actor_of,
    major_units,
    money,
    status_badge,
)
from config.platform.exceptions import DomainError, InsufficientFunds, ValidationFailed
from config.platform.models import Program
from rules.rewards.models import PayoutBatch
from rules.rewards.payout_selectors import payout_amounts, payout_item_get
from rules.rewards.selectors import payout_item_list, reward_balance_available
from rules.rewards.services import payout_auto, payout_items, payouts

Status = PayoutBatch.Status


class NewBatchForm(forms.Form):
    program = forms.ModelChoiceField(
        queryset=Program.objects.all(), help_text="The program whose participants you pay."
    )
    description = forms.CharField(
        max_length=200,
        required=False,
        help_text="For the approver and the bank export, e.g. “March affiliates”.",
    )
    rail = forms.ChoiceField(
        choices=PayoutBatch.Rail.choices,
        initial=PayoutBatch.Rail.CSV,
        required=False,
        help_text="How the money leaves: a CSV file you pay from (then confirm or fail each "
        "item), PayPal Payouts, Stripe Connect transfers, or your own system (a "
        "payout.requested webhook per item).",
    )
    csv_format = forms.ChoiceField(
        choices=PayoutBatch.CsvFormat.choices,
        initial=PayoutBatch.CsvFormat.GENERIC,
        required=False,
        help_text="For the CSV rail: the file to upload to PayPal or Wise, or a generic one.",
    )
    auto = forms.BooleanField(
        required=False,
        label="Prepare automatically",
        help_text="Add everyone whose available balance reaches the minimum payout and who has "
        "a payout method this rail can pay; the others are listed with why.",
    )


class FailItemForm(forms.Form):
    item = forms.IntegerField()
    reason = forms.CharField(max_length=2000)


class ItemForm(forms.Form):
    beneficiary = forms.CharField(max_length=200, help_text="The participant's external id.")
    amount = MoneyField(required=False)

    def __init__(self, *args: Any, currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["amount"]
        assert isinstance(field, MoneyField)
        field.currency = currency
        field.label = f"Amount ({currency})"
        field.help_text = (
            f"In {currency}, as you would write it: {major_units(150000, currency)} means "
            f"{money(150000, currency)}. Leave empty to pay the participant's whole available "
            "balance."
        )
        field.widget.attrs.update(
            {"placeholder": f"e.g. {major_units(150000, currency)}", "data-currency": currency}
        )


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


# Steps that move (or stop) money ask once more on a page that says what will move.
CONFIRMED_STEPS = frozenset({"approve", "execute", "reject"})
# step → (verb, what happens), {total} being the batch's total with its currency.
CONFIRMATIONS = {
    "approve": (
        "Approve",
        "Once approved, an operator can execute the batch: {total} will then move out of the "
        "partners' reward balances into payouts clearing.",
    ),
    "execute": (
        "Execute",
        "Executing moves {total} now: each item's amount leaves the partner's reward balance "
        "for payouts clearing and the rewards it covers become paid. This cannot be undone "
        "(a paid reward can only be clawed back).",
    ),
    "reject": (
        "Reject",
        "Nothing will be paid: the {total} stays in the partners' balances and the batch "
        "cannot be reopened. The reason is recorded in the audit log.",
    ),
}


def batch_summary(batch: PayoutBatch, items: list[Any] | None = None) -> str:
    """What a batch moves, in one phrase: "3 items, 4,500.00 INR to 3 partners"."""
    rows = items if items is not None else list(batch.items.all())
    partners = len({i.beneficiary for i in rows})
    total = money(sum(i.amount for i in rows), batch.currency)
    return (
        f"{len(rows)} item{pluralize(len(rows))}, {total} to {partners} "
        f"partner{pluralize(partners)}"
    )


def batch_label(batch: PayoutBatch, items: list[Any]) -> str:
    """The batch in breadcrumbs and titles: "Payout batch #12: 4,500.00 INR (approved)"."""
    total = money(sum(i.amount for i in items), batch.currency)
    return f"Payout batch #{batch.pk}: {total} ({batch.get_status_display().lower()})"


def item_refusal(batch: PayoutBatch, beneficiary: str, exc: DomainError) -> str:
    """Why an item was refused, in major units: the service's own sentence is the API's, in
    minor units ("100 INR available (minor units)"), which an operator would misread."""
    program, currency = batch.program, batch.currency
    available = reward_balance_available(program=program, beneficiary=beneficiary)
    if isinstance(exc, InsufficientFunds):
        return (
            f"Item not added: {beneficiary} has {money(max(available, 0), currency)} available "
            "to pay."
        )
    if isinstance(exc, ValidationFailed) and any(
        e.get("field") == "amount" for e in exc.errors or []
    ):
        return (
            f"Item not added: below the program's minimum payout of "
            f"{money(program.min_payout, currency)}."
        )
    return exc.detail


def next_step(batch: PayoutBatch) -> str:
    """What the batch waits for, in an operator's words."""
    if batch.status == Status.DRAFT:
        return "Add items, then submit for approval"
    if batch.status == Status.PENDING_APPROVAL:
        return f"Awaiting approval by someone other than {batch.created_by}"
    if batch.status == Status.APPROVED:
        return "Approved: ready to execute"
    if batch.status == Status.EXECUTED:
        if batch.rail in payout_items.MANUALLY_SETTLED:
            return "Executed: confirm or fail each sent item as its payment arrives or bounces"
        return f"Executed: {batch.get_rail_display()} reports how each item ends"
    return f"Rejected: {Truncator(batch.rejection_reason).chars(60)}"


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ProgramColumnMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "program_slug",
        "description",
        "status_display",
        "next_step_display",
        "items_count",
        "total",
        "created_by",
        "created_at",
    ]
    list_display_links = ["id", "description"]
    list_filter = ["status", "program"]
    search_fields = ["=id", "description", "created_by", "approved_by", "items__beneficiary"]
    search_help_text = "Batch number, description, who created or approved it, or a beneficiary"
    date_hierarchy = "created_at"
    changelist_hint = (
        "Paying participants takes two people: one drafts and submits a batch, another approves "
        "it, then an operator executes it. Open a batch to see its items and buttons."
    )
    empty_state = (
        "No payout batches yet. Use “Add payout batch” to start a draft, add the participants to "
        "pay (each defaults to their whole available balance), then submit it for approval."
    )

    @admin.display(description="Status", ordering="status")
    def status_display(self, batch: PayoutBatch) -> str:
        return status_badge(batch.status, batch.get_status_display())

    @admin.display(description="Next step")
    def next_step_display(self, batch: PayoutBatch) -> str:
        return next_step(batch)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("program")
            .annotate(n_items=Count("items"), amount=Sum("items__amount"))
        )

    @admin.display(description="Items", ordering="n_items")
    def items_count(self, batch: PayoutBatch) -> int:
        return batch.n_items  # type: ignore[attr-defined]

    @admin.display(description="Total", ordering="amount")
    def total(self, batch: PayoutBatch) -> str:
        return money(batch.amount or 0, batch.currency)  # type: ignore[attr-defined]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # batches change only through the buttons (services)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- permissions of the buttons ---------------------------------------------------------

    def _may(self, request: HttpRequest, step: str, batch: PayoutBatch) -> bool:
        user = request.user
        if step == "approve":
            # Whoever created, submitted or filled the batch does not even see "approve" (the
            # service and the database refuse it anyway).
            return (
                user.has_perm("ledger.approve_payoutbatch")
                and batch.status == Status.PENDING_APPROVAL
                and actor_of(request) not in payouts.payout_batch_makers(batch)
            )
        if step == "execute":
            return user.has_perm("ledger.execute_payoutbatch") and batch.status == Status.APPROVED
        if step in ("submit", "add_item"):
            return user.has_perm("ledger.change_payoutbatch") and batch.status == Status.DRAFT
        if step in ("confirm_item", "fail_item"):
            return (
                user.has_perm("ledger.execute_payoutbatch")
                and batch.status == Status.EXECUTED
                and batch.rail in payout_items.MANUALLY_SETTLED
            )
        if step == "reject":
            return (
                user.has_perm("ledger.change_payoutbatch")
                or user.has_perm("ledger.approve_payoutbatch")
            ) and batch.status in (Status.DRAFT, Status.PENDING_APPROVAL, Status.APPROVED)
        return False

    # --- views ------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/step/<str:step>/", view(self.step_view), name="ledger_payoutbatch_step"),
            path("<int:pk>/export.csv", view(self.export_view), name="ledger_payoutbatch_export"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NewBatchForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            options = {
                "program": data["program"],
                "actor": actor_of(request),
                "description": data["description"],
                "rail": data["rail"] or PayoutBatch.Rail.CSV,
                "csv_format": data["csv_format"] or PayoutBatch.CsvFormat.GENERIC,
            }
            try:
                if data["auto"]:
                    made, skipped = payout_auto.payout_batch_auto(**options)
                    assert made is not None
                    batch = made
                    n = batch.items.count()
                    messages.success(
                        request,
                        f"Draft payout batch {batch.pk} prepared with {n} item{pluralize(n)}.",
                    )
                    for s in skipped:
                        messages.warning(request, f"Skipped {s.beneficiary}: {s.detail}.")
                else:
                    batch = payouts.payout_batch_create(**options)
                    messages.success(
                        request, f"Draft payout batch {batch.pk} created; add its items."
                    )
            except DomainError as exc:
                messages.error(request, exc.detail)
            else:
                return HttpResponseRedirect(
                    reverse("admin:ledger_payoutbatch_change", args=[batch.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "New payout batch",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/ledger/payoutbatch/add.html", context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        batch = self.get_object(request, object_id)
        if batch is None or not self.has_view_permission(request, batch):
            raise PermissionDenied
        items = list(payout_item_list(batch=batch))
        steps = {
            s: self._may(request, s, batch)
            for s in ("submit", "approve", "reject", "execute", "add_item", "confirm_item")
        }
        context = {
            **self.admin_site.each_context(request),
            "title": f"Payout batch {batch.pk}",
            "subtitle": None,
            "batch_label": batch_label(batch, items),
            "opts": self.model._meta,
            "original": batch,
            "batch": batch,
            "items": items,
            "total": sum(i.amount for i in items),
            "amounts": payout_amounts(items),
            "steps": steps,
            "item_form": ItemForm(currency=batch.currency),
            "reject_form": RejectForm(),
            "is_creator": actor_of(request) in payouts.payout_batch_makers(batch),
            "exportable": batch.status in (Status.APPROVED, Status.EXECUTED),
            "next_step": next_step(batch),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/ledger/payoutbatch/detail.html", context)

    def step_view(self, request: HttpRequest, pk: int, step: str):
        confirm = step in CONFIRMED_STEPS
        if request.method != "POST" and not (confirm and request.method == "GET"):
            return HttpResponseNotAllowed(["GET", "POST"] if confirm else ["POST"])
        batch = get_object_or_404(PayoutBatch, pk=pk)
        if not self._may(request, step, batch):
            role = payouts.payout_batch_makers(batch).get(actor_of(request))
            if step == "approve" and role is not None:
                messages.error(request, f"You {role} this batch; another person must approve it.")
                return self._back(batch)
            raise PermissionDenied
        if confirm and request.POST.get("confirmed") != "yes":
            # Like Django's delete confirmation: say what will move, then ask once more.
            initial = {"reason": request.POST.get("reason", "")}
            return self.confirm_page(request, batch, step, RejectForm(initial=initial))
        actor = actor_of(request)
        try:
            if step == "add_item":
                form = ItemForm(request.POST, currency=batch.currency)
                if not form.is_valid():
                    messages.error(request, f"Item not added: {form.errors.as_text()}")
                    return self._back(batch)
                item = payouts.payout_item_add(
                    batch=batch,
                    beneficiary=form.cleaned_data["beneficiary"],
                    amount=form.cleaned_data["amount"],
                    actor=actor,
                )
                messages.success(
                    request,
                    f"Added {item.beneficiary} to payout batch #{batch.pk}: "
                    f"{money(item.amount, batch.currency)}.",
                )
            elif step in ("confirm_item", "fail_item"):
                return self._settle(request, batch, step, actor)
            elif step == "reject":
                reject = RejectForm(request.POST)
                if not reject.is_valid():
                    messages.error(request, "A reason is required to reject a batch.")
                    return self.confirm_page(request, batch, step, reject)
                payouts.payout_batch_reject(
                    batch=batch, actor=actor, reason=reject.cleaned_data["reason"]
                )
                messages.success(
                    request, f"Rejected payout batch #{batch.pk}: {batch_summary(batch)}."
                )
            else:
                service = {
                    "submit": payouts.payout_batch_submit,
                    "approve": payouts.payout_batch_approve,
                    "execute": payouts.payout_batch_execute,
                }[step]
                done = service(batch=batch, actor=actor)
                messages.success(
                    request,
                    f"Payout batch #{batch.pk} ({batch_summary(done)}) is now "
                    f"{done.get_status_display()}.",
                )
        except DomainError as exc:
            detail = exc.detail
            if step == "add_item":
                detail = item_refusal(batch, request.POST.get("beneficiary", ""), exc)
            messages.error(request, detail)
        return self._back(batch)

    def _settle(
        self, request: HttpRequest, batch: PayoutBatch, step: str, actor: str
    ) -> HttpResponseRedirect:
        """Confirm (paid) or fail (money back to the partner) one sent item."""
        form = FailItemForm(request.POST)
        if step == "confirm_item":
            form.fields["reason"].required = False
        if not form.is_valid():
            messages.error(request, "A reason is required to mark an item failed.")
            return self._back(batch)
        item = payout_item_get(batch=batch, pk=form.cleaned_data["item"])
        if step == "confirm_item":
            payout_items.payout_item_confirm(batch=batch, item=item, actor=actor)
            messages.success(request, f"{item.beneficiary}'s payout is marked paid.")
        else:
            payout_items.payout_item_fail(
                batch=batch, item=item, reason=form.cleaned_data["reason"], actor=actor
            )
            messages.success(
                request,
                f"{item.beneficiary}'s payout failed: {money(item.amount, batch.currency)} is "
                "back in their balance and its rewards are confirmed again.",
            )
        return self._back(batch)

    def confirm_page(
        self, request: HttpRequest, batch: PayoutBatch, step: str, form: forms.Form
    ) -> TemplateResponse:
        items = list(payout_item_list(batch=batch))
        verb, consequence = CONFIRMATIONS[step]
        summary = batch_summary(batch, items)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb} payout batch #{batch.pk}",
            "subtitle": None,
            "opts": self.model._meta,
            "original": batch,
            "batch": batch,
            "batch_label": batch_label(batch, items),
            "step": step,
            "verb": verb,
            "headline": f"{verb} batch #{batch.pk}: {summary}",
            "consequence": consequence.format(
                total=money(sum(i.amount for i in items), batch.currency)
            ),
            "items": items,
            "form": form if step == "reject" else None,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/ledger/payoutbatch/confirm.html", context)

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        batch = get_object_or_404(PayoutBatch, pk=pk)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        csv_format = request.GET.get("csv_format") or None
        if payouts.payout_batch_csv_decrypts(
            batch=batch, csv_format=csv_format
        ) and not request.user.has_perm(payouts.PAYMENT_FILE_PERMISSION):
            raise PermissionDenied  # a payment file holds payout details in clear
        try:
            body = payouts.payout_batch_csv(batch=batch, csv_format=csv_format)
        except DomainError as exc:
            messages.error(request, exc.detail)
            return self._back(batch)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="payout-{batch.program.slug}-{batch.pk}.csv"'
        )
        return response

    def _back(self, batch: PayoutBatch) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:ledger_payoutbatch_change", args=[batch.pk]))
