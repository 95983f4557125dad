"""Admin template helpers: `{% program_dashboard as dashboard %}` (the admin index's chosen
program and its numbers), `{% needs_attention as items %}` (the operator's to-do list on the
index) and the `money` and `describe` filters. What the dashboard shows is registered by the
apps that own it (config.platform.admin.dashboard)."""

from __future__ import annotations

from typing import Any

from django import template

from config.platform.admin import dashboard
from config.platform.admin.common import describe as admin_describe
from config.platform.admin.common import money as admin_money
from config.platform.currencies import currency_exponent
from config.platform.models import Program

register = template.Library()


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
    """The chosen program (`?program=`, else the first) and its numbers: the program's slug,
    currency and exponent (amounts stay in minor units, as everywhere in the ledger; the page
    shows them with the exponent), then the keys of every panel this user may see."""
    request = context.get("request")
    if request is None:
        return None
    panels = dashboard.program_panels(request)
    if not panels:
        return None
    programs = list(Program.objects.order_by("slug"))
    if not programs:
        return None
    wanted = request.GET.get("program")
    program = next((p for p in programs if p.slug == wanted), programs[0])
    data: dict[str, Any] = {
        "program": program.slug,
        "currency": program.currency,
        "exponent": currency_exponent(program.currency),
    }
    for panel in panels:
        data.update(panel(program))
    return {"programs": programs, "program": program, "data": data}


@register.simple_tag(takes_context=True)
def needs_attention(context: dict[str, Any]) -> list[dict[str, Any]]:
    """What waits for an operator across all programs, each with a link to the filtered list;
    only what this user may see (config.platform.admin.dashboard)."""
    request = context.get("request")
    if request is None or not getattr(request.user, "is_staff", False):
        return []
    return dashboard.attention_items(request)
