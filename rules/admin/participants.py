"""The operator's view of a participant: one page with their balance (pending, available,
paid), rewards, referrer and downline, links and clicks, events, payouts and audit entries,
each section linking to the change list filtered to them. Found by external id or email from
the participants list. Read-only: participants change through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.platform.admin.common import ReadOnlyAdmin, money, status_badge
from config.platform.admin.records import audit_changes
from config.platform.models import AuditEntry
from rules.admin.overview import Rows, participant_overview
from rules.links import admin as links_admin  # also registers the daily clicks page
from rules.links.models import ClickDaily
from rules.models import Event, Participant, Referral
from rules.rewards.models import PayoutBatch, Reward


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "—"


def _page(model: type[Model], pk: Any, label: Any) -> SafeString | str:
    """A link to an object's admin page, or the label alone when it has none."""
    opts = model._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
    except NoReverseMatch:
        return str(label)
    return format_html("<a href='{}'>{}</a>", url, label)


def _list_url(request: HttpRequest, model: type[Model], **query: Any) -> str | None:
    """The change list of `model` filtered by `query`, if this user may see it; else None."""
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return None
    if not model_admin.has_view_or_change_permission(request):
        return None
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(query)}" if query else url


class Section:
    """One part of the page: a title, a table of the newest rows, the count, and the filtered
    change list (None: the user may not see that list, so the section is left out)."""

    def __init__(
        self,
        key: str,
        title: str,
        url: str | None,
        headers: list[str],
        rows: Rows,
        cells: Callable[[Any], list[Any]],
        empty: str,
    ):
        self.key, self.title, self.url, self.headers = key, title, url, headers
        self.count = rows.count
        self.rows = [cells(row) for row in rows.rows]
        self.empty = empty
        self.more = rows.count > len(rows.rows)


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "email", "program", "referral_code", "tier", "created_at"]
    list_filter = ["program", "tier"]
    list_select_related = ["program"]
    # An external id or code matches a part; an email the whole address (any case).
    search_fields = ["external_id", "referral_code", "=attributes__email"]
    search_help_text = "External id, referral code or email address"
    fields = (
        "external_id",
        "program",
        "email",
        "referral_code",
        "tier",
        "attributes",
        "created_at",
    )
    readonly_fields = fields
    change_form_template = "admin/rules/participant/change_form.html"
    inlines = [links_admin.CouponInline]
    view_on_site = False  # participants have no page outside the console
    changelist_hint = (
        "Everyone a program knows: referrers and the people they referred. Open one to see "
        "their balance, rewards, referrals, links and clicks, events, payouts and audit log."
    )

    @admin.display(description="Email")
    def email(self, participant: Participant) -> str:
        value = (participant.attributes or {}).get("email")
        return value if isinstance(value, str) and value else "—"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        participant = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        # Django refuses the page itself to whoever may not see it; read nothing for them.
        if participant is not None and self.has_view_or_change_permission(request, participant):
            extra.update(self.overview(request, participant))
            extra["subtitle"] = f"{participant.external_id} ({participant.program.slug})"
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def overview(self, request: HttpRequest, participant: Participant) -> dict[str, Any]:
        data = participant_overview(participant=participant)
        program, ext = participant.program, participant.external_id
        currency = program.currency
        in_program = {"program__id__exact": program.pk}
        rewards_url = _list_url(request, Reward, **in_program, beneficiary=ext)
        balance = None
        if rewards_url is not None:  # money is shown to those who may see the rewards
            b = data["balance"]
            balance = {
                "pending": money(b["pending"], currency),
                "available": money(b["available"], currency),
                "paid": money(b["paid"], currency),
                "url": rewards_url,
            }
        referral = data["referrer"]
        referrer = None
        if referral is not None:
            referrer = {
                "link": _page(Participant, referral.referrer_id, referral.referrer.external_id),
                "when": _when(referral.created_at),
            }
        sections = [
            Section(
                "rewards",
                "Rewards",
                rewards_url,
                ["Reward", "Amount", "Status", "Type", "Created"],
                data["rewards"],
                lambda r: [
                    _page(Reward, r.pk, f"Reward {r.pk}"),
                    money(r.amount, r.currency),
                    status_badge(r.status, r.get_status_display()),
                    r.get_reward_type_display(),
                    _when(r.created_at),
                ],
                "No rewards yet.",
            ),
            Section(
                "downline",
                "Referred by them (downline)",
                _list_url(request, Referral, referrer__id__exact=participant.pk),
                ["Participant", "Referred"],
                data["downline"],
                lambda r: [
                    _page(Participant, r.referred_id, r.referred.external_id),
                    _when(r.created_at),
                ],
                "They have not referred anyone yet.",
            ),
            Section(
                "events",
                "Events",
                _list_url(request, Event, participant__id__exact=participant.pk),
                ["Event id", "Type", "Status", "Occurred"],
                data["events"],
                lambda e: [
                    _page(Event, e.pk, e.event_id),
                    e.type,
                    status_badge(e.status, e.get_status_display()),
                    _when(e.occurred_at),
                ],
                "No events yet.",
            ),
            Section(
                "payouts",
                "Payouts",
                _list_url(request, PayoutBatch, **in_program, q=ext),
                ["Batch", "Amount", "Batch status", "Created"],
                data["payouts"],
                lambda i: [
                    _page(PayoutBatch, i.batch_id, f"Payout batch #{i.batch_id}"),
                    money(i.amount, i.batch.currency),
                    status_badge(i.batch.status, i.batch.get_status_display()),
                    _when(i.batch.created_at),
                ],
                "Never paid out.",
            ),
            Section(
                "audit",
                "Audit log",
                _list_url(request, AuditEntry, **in_program, participant=ext),
                ["When", "Who", "Action", "Changed"],
                data["audit"],
                lambda a: [
                    _page(AuditEntry, a.pk, _when(a.at)),
                    a.actor,
                    a.action,
                    "; ".join(
                        f"{field}: {old} → {new}" if old is not None else f"{field}: {new}"
                        for field, old, new in audit_changes(a)
                    )
                    or "—",
                ],
                "No audit entries about them.",
            ),
        ]
        clicks_url = _list_url(request, ClickDaily, participant__id__exact=participant.pk)
        links = [
            {
                "url": "/r/"
                + participant.referral_code
                + (f"/{lc.link.slug}" if lc.link is not None else ""),
                "destination": (lc.link.destination if lc.link is not None else "")
                or "the program's landing page",
                "clicks": lc.clicks,
                "unique": lc.unique_clicks,
                "bots": lc.bot_clicks,
            }
            for lc in data["links"]
        ]
        return {
            "balance": balance,
            "referrer": referrer,
            "links": links,
            "clicks_url": clicks_url,
            "sections": [s for s in sections if s.url is not None],
        }
