"""The partner's pages (SPEC section 12). Each is reached only through `partner_required`,
which hands it the signed-in partner of this program; every read names that partner, so another
participant's reward, payout or link is 404 here."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from builder.portal import statements
from builder.portal.forms import LinkForm, PreferencesForm
from builder.portal.services import EMAIL_PREFERENCES, email_preferences_update
from builder.portal.views.access import Partner, partner_required
from builder.portal.wording import batch_status, mask, reward_explanation, reward_status
from config.platform.admin.common import money
from config.platform.currencies import currency_exponent
from config.platform.exceptions import DomainError
from rules.links.click_stats import clicks_by_day, link_clicks, referral_link_of
from rules.links.selectors import referral_link_list
from rules.links.services.links import referral_link_create
from rules.rewards.models import PayoutMethod
from rules.rewards.payout_selectors import payout_method_get
from rules.rewards.selectors import (
    beneficiary_payout_item,
    beneficiary_payout_items,
    beneficiary_reward,
    beneficiary_rewards,
    beneficiary_rewards_by_day,
    user_balance,
)
from rules.rewards.services.payout_methods import payout_method_set
from rules.selectors import participant_tree, referrals_by_day
from rules.tiers.selectors import tier_progress

CHART_DAYS = 30
PAGE_SIZE = 50
# How a partner reads each tier criterion (rules/tiers/models.py says what each counts).
TIER_CRITERIA = {
    "min_referred_revenue": "Revenue from people you referred",
    "min_conversions": "Purchases by people you referred",
    "min_active_referrals": "People you referred who were active",
}


def _page(request: HttpRequest, partner: Partner, template: str, **context) -> HttpResponse:
    return render(
        request,
        template,
        {"program": partner.program, "participant": partner.participant, **context},
    )


def _chart(partner: Partner) -> dict:
    """Clicks, referrals, conversions (rewards earned) and earnings per UTC day, last 30 days."""
    today = timezone.now().date()
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    participant, program = partner.participant, partner.program
    clicks = clicks_by_day(participant=participant, since=days[0])
    referrals = referrals_by_day(participant=participant, since=since)
    rewards = beneficiary_rewards_by_day(
        program=program, beneficiary=participant.external_id, since=since
    )
    return {
        "labels": [d.isoformat() for d in days],
        "clicks": [clicks.get(d, 0) for d in days],
        "referrals": [referrals.get(d, 0) for d in days],
        "conversions": [rewards.get(d, (0, 0))[0] for d in days],
        "earnings": [rewards.get(d, (0, 0))[1] for d in days],
        "currency": program.currency,
        "exponent": currency_exponent(program.currency),
    }


def _tier_card(partner: Partner) -> dict | None:
    """The partner's tier, the next one and the progress towards it; None without tiers."""
    progress = tier_progress(participant=partner.participant)
    if progress is None:
        return None
    currency = partner.program.currency

    def shown(criterion: str, value: int) -> str:
        return money(value, currency) if criterion == "min_referred_revenue" else str(value)

    return {
        "current": progress.current,
        "next": progress.next,
        "window_days": progress.window_days,
        "tiers": progress.tiers,
        "criteria": [
            {
                "label": TIER_CRITERIA[row["criterion"]],
                "actual": shown(row["criterion"], row["actual"]),
                "required": shown(row["criterion"], row["required"]),
                "percent": row["percent"],
                "met": row["met"],
            }
            for row in progress.criteria
        ],
    }


@require_GET
@partner_required
def home(request: HttpRequest, partner: Partner) -> HttpResponse:
    participant, program = partner.participant, partner.program
    balance = user_balance(program=program, external_id=participant.external_id)
    chart = _chart(partner)
    totals = {k: sum(chart[k]) for k in ("clicks", "referrals", "conversions")}
    return _page(
        request,
        partner,
        "portal/home.html",
        link=request.build_absolute_uri(
            reverse("referral-redirect", args=[participant.referral_code])
        ),
        balance={k: money(balance[k], program.currency) for k in ("pending", "available", "paid")},
        chart=chart,
        totals=totals,
        earned=money(sum(chart["earnings"]), program.currency),
        chart_days=CHART_DAYS,
        tier=_tier_card(partner),
    )


@require_GET
@partner_required
def rewards(request: HttpRequest, partner: Partner) -> HttpResponse:
    qs = beneficiary_rewards(program=partner.program, beneficiary=partner.participant.external_id)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "reward": r,
            "status": reward_status(r),
            "amount": money(r.amount, r.currency),
            "why": reward_explanation(r, partner.program),
        }
        for r in page
    ]
    return _page(request, partner, "portal/rewards.html", rows=rows, page=page)


@require_GET
@partner_required
def reward_detail(request: HttpRequest, partner: Partner, reward_id: int) -> HttpResponse:
    reward = beneficiary_reward(
        program=partner.program, beneficiary=partner.participant.external_id, pk=reward_id
    )
    if reward is None:
        raise Http404("No such reward.")
    return _page(
        request,
        partner,
        "portal/reward.html",
        reward=reward,
        status=reward_status(reward),
        amount=money(reward.amount, reward.currency),
        why=reward_explanation(reward, partner.program),
    )


@require_GET
@partner_required
def payouts(request: HttpRequest, partner: Partner) -> HttpResponse:
    items = beneficiary_payout_items(
        program=partner.program, beneficiary=partner.participant.external_id
    )
    rows = [
        {"item": i, "status": batch_status(i.batch), "amount": money(i.amount, i.batch.currency)}
        for i in items
    ]
    return _page(request, partner, "portal/payouts.html", rows=rows)


def _item_or_404(partner: Partner, item_id: int):
    item = beneficiary_payout_item(
        program=partner.program, beneficiary=partner.participant.external_id, pk=item_id
    )
    if item is None:
        raise Http404("No such payout.")
    return item


@require_GET
@partner_required
def payout_detail(request: HttpRequest, partner: Partner, item_id: int) -> HttpResponse:
    item = _item_or_404(partner, item_id)
    covered = [
        {"reward": c.reward, "amount": money(c.reward.amount, c.reward.currency)}
        for c in item.coverages.all()
    ]
    return _page(
        request,
        partner,
        "portal/payout.html",
        item=item,
        status=batch_status(item.batch),
        amount=money(item.amount, item.batch.currency),
        covered=covered,
    )


@require_GET
@partner_required
def payout_statement(request: HttpRequest, partner: Partner, item_id: int) -> HttpResponse:
    return statements.payout_csv(_item_or_404(partner, item_id))


@require_GET
@partner_required
def downline(request: HttpRequest, partner: Partner) -> HttpResponse:
    tree = participant_tree(partner.participant)
    people = [
        {
            "who": mask(child["external_id"]),
            "at": child["referred_at"],
            "children": [
                {"who": mask(c["external_id"]), "at": c["referred_at"]} for c in child["children"]
            ],
        }
        for child in tree["children"]
    ]
    return _page(request, partner, "portal/downline.html", people=people)


@require_http_methods(["GET", "POST"])
@partner_required
def links(request: HttpRequest, partner: Partner) -> HttpResponse:
    participant = partner.participant
    form = LinkForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            link = referral_link_create(
                participant=participant,
                slug=form.cleaned_data["slug"],
                destination=form.cleaned_data["destination"],
                actor=f"partner:{participant.external_id}",
            )
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, f"Created the link “{link.slug}”.")
            return redirect("portal:links", program=partner.program.slug)
    counts = link_clicks(participant=participant)
    base = request.build_absolute_uri(
        reverse("referral-redirect", args=[participant.referral_code])
    )
    rows = [
        {"link": link, "url": f"{base}/{link.slug}", "clicks": counts.get(link.pk, 0)}
        for link in referral_link_list(participant=participant)
    ]
    return _page(
        request,
        partner,
        "portal/links.html",
        form=form,
        rows=rows,
        code_link=base,
        code_clicks=counts.get(None, 0),
    )


@require_GET
@partner_required
def link_detail(request: HttpRequest, partner: Partner, link_id: int) -> HttpResponse:
    participant = partner.participant
    link = referral_link_of(participant=participant, pk=link_id)
    if link is None:
        raise Http404("No such link.")
    base = request.build_absolute_uri(
        reverse("referral-redirect", args=[participant.referral_code])
    )
    return _page(
        request,
        partner,
        "portal/link.html",
        link=link,
        url=f"{base}/{link.slug}",
        clicks=link_clicks(participant=participant).get(link.pk, 0),
    )


# The payout-details page's fields per method (SPEC section 13): one fieldset each, so the page
# works without JavaScript; only the chosen method's fields are read.
PAYOUT_FIELDS = {
    "paypal": [("email", "PayPal e-mail address", "email")],
    "stripe_connect": [("account", "Stripe account id (acct_…)", "text")],
    "bank_transfer": [
        ("name", "Account holder's name", "text"),
        ("iban", "IBAN", "text"),
        ("bic", "BIC (optional)", "text"),
        ("account_number", "Account number (India, instead of IBAN)", "text"),
        ("ifsc", "IFSC (with the account number)", "text"),
    ],
    "upi": [("vpa", "UPI address (name@bank)", "text")],
    "manual": [("note", "Note for the program (optional)", "text")],
}


@require_http_methods(["GET", "POST"])
@partner_required
def payout_details(request: HttpRequest, partner: Partner) -> HttpResponse:
    """The partner's payout method: shown masked, replaced by typing new details in full (the
    stored ones are never shown back, nor decrypted here)."""
    program, participant = partner.program, partner.participant
    errors: list[str] = []
    chosen = request.POST.get("method", "") if request.method == "POST" else ""
    if request.method == "POST":
        fields = PAYOUT_FIELDS.get(chosen, [])
        details = {
            name: request.POST.get(f"{chosen}-{name}", "").strip()
            for name, _label, _kind in fields
            if request.POST.get(f"{chosen}-{name}", "").strip()
        }
        try:
            payout_method_set(
                program=program,
                beneficiary=participant.external_id,
                method=chosen,
                details=details,
                actor=f"partner:{participant.external_id}",
            )
        except DomainError as error:
            errors = [e["message"] for e in error.errors or []] or [error.detail]
        else:
            messages.success(request, "Saved your payout details.")
            return redirect("portal:payout-details", program=program.slug)
    current = payout_method_get(program=program, beneficiary=participant.external_id)
    methods = [
        {
            "value": value,
            "label": label,
            "fields": [
                {"name": f"{value}-{name}", "label": f_label, "kind": kind}
                for name, f_label, kind in PAYOUT_FIELDS[value]
            ],
        }
        for value, label in PayoutMethod.Method.choices
    ]
    return _page(
        request,
        partner,
        "portal/payout_details.html",
        current=current,
        methods=methods,
        chosen=chosen or (current.method if current else ""),
        errors=errors,
    )


@require_http_methods(["GET", "POST"])
@partner_required
def preferences(request: HttpRequest, partner: Partner) -> HttpResponse:
    account = partner.account
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        initial={name: getattr(account, name) for name in EMAIL_PREFERENCES},
    )
    if request.method == "POST" and form.is_valid():
        email_preferences_update(account=account, wanted=form.cleaned_data)
        messages.success(request, "Saved your email preferences.")
        return redirect("portal:preferences", program=partner.program.slug)
    return _page(request, partner, "portal/preferences.html", form=form)
