"""Admin template helpers: `{% program_dashboard as dashboard %}` (the admin index's chosen
program and its numbers), `{% needs_attention as items %}` (the operator's to-do list on the
index) and the `money` and `describe` filters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Count, Model, Q
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from config.platform.admin.common import describe as admin_describe
from config.platform.admin.common import money as admin_money
from config.platform.models import Program
from ledger.models import ReconciliationRun
from rules.dashboard import dashboard_data
from rules.rewards.models import HeldReward, PayoutBatch

register = template.Library()

# The nightly reconciliation should never be older than this; a little slack for a late run.
RECONCILIATION_STALE_AFTER = timedelta(hours=36)


@register.filter
def money(amount: int | None, currency: str) -> str:
    """`{{ item.amount|money:batch.currency }}` → "1,234.56 INR"."""
    return admin_money(amount, currency)


@register.filter
def describe(obj: Any) -> str:
    """How a reason page or breadcrumb names an object: rewards with their amount in major
    units and readable status, anything else as itself."""
    return admin_describe(obj)


@register.simple_tag(takes_context=True)
def program_dashboard(context: dict[str, Any]) -> dict[str, Any] | None:
    request = context.get("request")
    if request is None or not request.user.has_perm("ledger.view_reward"):
        return None
    programs = list(Program.objects.order_by("slug"))
    if not programs:
        return None
    wanted = request.GET.get("program")
    program = next((p for p in programs if p.slug == wanted), programs[0])
    return {"programs": programs, "program": program, "data": dashboard_data(program)}


def _changelist(request: HttpRequest, model: type[Model], query: str = "") -> str | None:
    """The admin change list of `model` if this user may see it, else None."""
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return None
    if not model_admin.has_view_or_change_permission(request):
        return None
    opts = model._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


def _count_item(key: str, count: int, singular: str, plural: str, url: str, *, level: str):
    return {
        "key": key,
        "value": count,
        "label": singular if count == 1 else plural,
        "url": url,
        "level": level if count else "ok",
    }


def _reconciliation_item(request: HttpRequest, now) -> dict[str, Any] | None:
    url = _changelist(request, ReconciliationRun)
    if url is None:
        return None
    run = (
        ReconciliationRun.objects.select_related("program").order_by("-finished_at", "-id").first()
    )
    if run is None:
        return {
            "key": "reconciliation",
            "value": "Never run",
            "label": "reconciliation: prove the books balance",
            "url": url,
            "level": "warn",
        }
    clean = run.status == ReconciliationRun.Status.CLEAN
    n = len(run.findings)
    stale = now - run.finished_at > RECONCILIATION_STALE_AFTER
    scope = run.program.slug if run.program else "all programs"
    return {
        "key": "reconciliation",
        "value": "Clean" if clean else "Discrepancies",
        "label": (
            f"last reconciliation ({scope})"
            if clean
            else f"last reconciliation ({scope}): {n} finding{pluralize(n)}"
        ),
        "url": reverse("admin:ledger_reconciliationrun_change", args=[run.pk]),
        "when": run.finished_at,
        "stale": stale,
        "level": "alert" if not clean else ("warn" if stale else "ok"),
    }


@register.simple_tag(takes_context=True)
def needs_attention(context: dict[str, Any]) -> list[dict[str, Any]]:
    """What waits for an operator across all programs, each with a link to the filtered list;
    only what this user may see. Items: key, value (a count or a word), label, url, level
    ("ok", "warn" or "alert") and, for reconciliation, when and stale."""
    request = context.get("request")
    if request is None or not getattr(request.user, "is_staff", False):
        return []
    items: list[dict[str, Any]] = []

    url = _changelist(request, HeldReward)
    if url is not None:
        held = HeldReward.objects.count()
        items.append(
            _count_item(
                "held",
                held,
                "held reward awaiting review",
                "held rewards awaiting review",
                url,
                level="warn",
            )
        )

    url = _changelist(request, PayoutBatch)
    if url is not None:
        Status = PayoutBatch.Status
        counts = PayoutBatch.objects.aggregate(
            pending=Count("pk", filter=Q(status=Status.PENDING_APPROVAL)),
            approved=Count("pk", filter=Q(status=Status.APPROVED)),
        )
        items.append(
            _count_item(
                "pending_approval",
                counts["pending"],
                "payout batch awaiting approval",
                "payout batches awaiting approval",
                f"{url}?status__exact={Status.PENDING_APPROVAL}",
                level="warn",
            )
        )
        items.append(
            _count_item(
                "approved",
                counts["approved"],
                "approved batch awaiting execution",
                "approved batches awaiting execution",
                f"{url}?status__exact={Status.APPROVED}",
                level="warn",
            )
        )

    # The ledger must not import the rules app: look its model up only if it is installed.
    if apps.is_installed("rules"):
        event_model = apps.get_model("rules", "Event")
        url = _changelist(request, event_model, "status__exact=failed")
        if url is not None:
            failed = event_model.objects.filter(status="failed").count()
            items.append(
                _count_item(
                    "failed_events", failed, "failed event", "failed events", url, level="alert"
                )
            )

    item = _reconciliation_item(request, timezone.now())
    if item is not None:
        items.append(item)
    return items
