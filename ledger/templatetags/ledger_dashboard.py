"""Admin template helpers: `{% program_dashboard as dashboard %}` (the admin index's chosen
program and its numbers) and the `money` filter."""

from __future__ import annotations

from typing import Any

from django import template

from ledger.admin_common import money as admin_money
from ledger.admin_dashboard import dashboard_data
from ledger.models import Program

register = template.Library()


@register.filter
def money(amount: int | None, currency: str) -> str:
    """`{{ item.amount|money:batch.currency }}` → "1,234.56 INR"."""
    return admin_money(amount, currency)


@register.simple_tag(takes_context=True)
def program_dashboard(context: dict[str, Any]) -> dict[str, Any] | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("ledger.view_reward"):
        return None
    programs = list(Program.objects.order_by("slug"))
    if not programs:
        return None
    wanted = request.GET.get("program")
    program = next((p for p in programs if p.slug == wanted), programs[0])
    return {"programs": programs, "program": program, "data": dashboard_data(program)}
