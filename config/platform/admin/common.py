"""Building blocks of the operator console: read-only admins, CSV export, and actions that ask
for a reason on an intermediate page before calling a service."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.db_router import replica_alias
from config.platform import csvsafe
from config.platform.currencies import MAX_AMOUNT, currency_exponent
from config.platform.exceptions import DomainError


def major_units(amount: int, currency: str) -> str:
    """Minor units as the digits an operator types, without the currency: 150000 INR →
    "1,500.00", 1500 JPY → "1,500", 1500 KWD → "1.500". Exact (Decimal), never a float."""
    exponent = currency_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):,.{exponent}f}"


def money(amount: int | None, currency: str) -> str:
    """Minor units as an operator reads them: 123456 INR → "1,234.56 INR". The one formatter of
    the console: lists, pages, breadcrumbs, confirmations and audit details all use it."""
    if amount is None:
        return "—"
    return f"{major_units(amount, currency)} {currency}"


# Keys of audit before/after values that are money (minor units), per SPEC §8's entries:
# rewards' and payout items' `amount`, batches' `total`, programs' amount settings.
AUDIT_MONEY_KEYS = frozenset({"amount", "total", "min_payout", "fraud_amount_threshold"})
# Object types whose `amount` is not money (credits are a points wallet).
AUDIT_NOT_MONEY = frozenset({"credit_entry"})


def audit_value(key: str, value: Any, *, object_type: str, currency: str | None) -> Any:
    """An audit entry's before/after value as the console shows it: money in major units with
    the currency (the stored entry keeps minor units, as the API returns them)."""
    if (
        currency
        and key in AUDIT_MONEY_KEYS
        and object_type not in AUDIT_NOT_MONEY
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return money(value, currency)
    return "—" if value is None else value


# "1500", "1,500", "1,500.00", "1500.5": digits with optional thousands commas (in groups of
# three) and an optional fraction. No sign, no exponent, no spaces inside.
_MAJOR = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?$", re.ASCII)
# The largest amount an operator may type: the money limit (10^15 minor units), as on the API.
MAX_MINOR = MAX_AMOUNT


def parse_major(text: str, currency: str) -> int:
    """An amount as an operator types it, in major units, to exact minor units: "1,500.00" INR
    → 150000; "1500" JPY → 1500; "1.5" KWD → 1500. Raises ValueError with a sentence for the
    operator when it is not an amount or has more decimals than the currency has."""
    value = text.strip()
    if value.upper().endswith(currency.upper()) and currency:
        value = value[: -len(currency)].strip()  # "1,500.00 INR", as the console shows it
    match = _MAJOR.match(value)
    if not match:
        raise ValueError(f"Enter an amount in {currency}, e.g. {major_units(150000, currency)}.")
    exponent = currency_exponent(currency)
    fraction = match.group(1) or ""
    if len(fraction.rstrip("0")) > exponent:
        places = f"{exponent} decimal place{'s' if exponent != 1 else ''}"
        raise ValueError(f"{currency} has {places}: {text.strip()} is not an exact amount.")
    minor = int(Decimal(value.replace(",", "")).scaleb(exponent))
    if minor > MAX_MINOR:
        raise ValueError(
            f"{text.strip()} {currency} is above the money limit of {money(MAX_MINOR, currency)}."
        )
    return minor


class MoneyInput(forms.TextInput):
    """A text box for major units (no spinner that steps by 1, which reads as minor units)."""

    input_type = "text"

    def __init__(self, attrs: dict[str, Any] | None = None):
        super().__init__({"inputmode": "decimal", "autocomplete": "off", **(attrs or {})})


class MoneyField(forms.Field):
    """The console's one money input: the operator types major units ("1500", "1,500.00",
    "1,500.00 INR"), the form cleans to exact minor units (150000). More decimals than the
    currency has (15.005 INR, 1.5 JPY) is an error, never a rounding. `currency` is the
    program's; a form that learns it later (a new program) sets `field.currency` before
    validation."""

    widget = MoneyInput

    def __init__(
        self, *, currency: str = "", min_minor: int | None = None, allow_zero: bool = False, **kw
    ):
        self.currency = currency
        self.min_minor = min_minor
        self.allow_zero = allow_zero
        super().__init__(**kw)

    def prepare_value(self, value: Any) -> Any:
        # Stored minor units (an int from the model or `initial`) shown as major units; what
        # the operator typed is shown back as typed.
        if isinstance(value, int) and not isinstance(value, bool) and self.currency:
            return major_units(value, self.currency)
        return value

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already minor units (initial data)
        try:
            minor = parse_major(str(value), self.currency)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None
        if minor == 0 and not self.allow_zero:
            raise forms.ValidationError("Enter an amount above zero.", code="min_value")
        if self.min_minor is not None and minor < self.min_minor:
            raise forms.ValidationError(
                f"Enter at least {money(self.min_minor, self.currency)}.", code="min_value"
            )
        return minor

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        if self.currency:
            attrs["placeholder"] = f"e.g. {major_units(150000, self.currency)}"
            attrs["data-currency"] = self.currency
        return attrs


# How each status reads at a glance (a colour per tone in static/admin_dashboard/console.css).
STATUS_TONES = {
    "pending": "warn",
    "confirmed": "info",
    "paid": "ok",
    "reversed": "muted",
    "clawed_back": "alert",
    "draft": "muted",
    "pending_approval": "warn",
    "approved": "info",
    "executed": "ok",
    "rejected": "muted",
    "clean": "ok",
    "discrepancies": "alert",
    "posted": "ok",
    "voided": "muted",
    "active": "ok",
    "revoked": "muted",
}


def status_badge(value: str, label: str | None = None) -> SafeString:
    """A status as a small coloured label: "pending_approval" → "Pending approval"."""
    text = label or value.replace("_", " ").capitalize()
    return format_html(
        '<span class="status-badge tone-{}" data-status="{}">{}</span>',
        STATUS_TONES.get(value, "muted"),
        value,
        text,
    )


class ProgramColumnMixin:
    """A short "Program" column (the slug) instead of the long "Name (slug)"."""

    @admin.display(description="Program", ordering="program__slug")
    def program_slug(self, obj: Any) -> str:
        program = getattr(obj, "program", None)
        return program.slug if program else "—"


def actor_of(request: HttpRequest) -> str:
    """Staff users act as `user:<username>`, the same identity the API gives their session."""
    return f"user:{request.user.get_username()}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody adds, changes or deletes these rows here, superusers included: writes go through
    services (and the ledger's rows are append-only in the database anyway)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _cell(obj: Model, field: str) -> Any:
    value: Any = obj
    for part in field.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return ""
    return value() if callable(value) else value


@admin.action(description="Export selected rows as CSV")
def export_csv(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    """Columns come from the admin's `csv_fields` (dotted with __ for related fields)."""
    fields: list[str] = modeladmin.csv_fields  # type: ignore[attr-defined]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = modeladmin.model._meta.model_name
    response["Content-Disposition"] = f'attachment; filename="{name}s.csv"'
    writer = csvsafe.writer(response)
    writer.writerow(fields)
    # An export tolerates lag: the replica when there is one (docs/OPERATIONS.md).
    for obj in queryset.using(replica_alias()).iterator(chunk_size=2000):
        writer.writerow([_cell(obj, f) for f in fields])
    return response


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Recorded in the audit log (for rewards, also in the reward's history).",
    )


# How the console names an object of a given model, where str() will not do (registered by the
# layer that owns the model, e.g. a reward with its amount in major units).
DESCRIBERS: dict[type, Callable[[Any], str]] = {}
# How a success message names an object it acted on ("reward 3 for alice: 50.00 INR"),
# registered the same way; others read "<verbose name> <str>".
SUBJECTS: dict[type, Callable[[Any], str]] = {}
# The past tense of an action's verb, for its success message.
PAST_TENSE = {
    "Confirm": "Confirmed",
    "Reverse": "Reversed",
    "Claw back": "Clawed back",
    "Release": "Released",
    "Revoke": "Revoked",
    "Publish": "Published",
}
# Up to this many objects, one success message each; more, one message that sums them up.
ONE_MESSAGE_EACH = 10


def describe(obj: Any) -> str:
    """An object as the console names it: through its model's registered describer ("Reward 7:
    carol, 1,500.00 INR (confirmed)"; its str() has minor units), anything else as itself."""
    describer = DESCRIBERS.get(type(obj))
    return describer(obj) if describer else str(obj)


def subject(obj: Any) -> str:
    """An object as a success message names it: "reward 3 for alice: 50.00 INR", "API key
    ab12cd… (checkout)"; anything else as its verbose name and str()."""
    name = SUBJECTS.get(type(obj))
    return name(obj) if name else f"{obj._meta.verbose_name} {obj}"


def run_for_each(
    request: HttpRequest,
    objects: Iterable[Model],
    call: Callable[[Model], Any],
    *,
    done: str,
) -> int:
    """Call a service per object, each in its own database transaction (the service's), and
    report what happened, naming the objects and the money moved: "Reversed reward 3 for
    alice: 50.00 INR." (`done` is the past tense). One refused object does not undo the
    others."""
    succeeded: list[Model] = []
    for obj in objects:
        try:
            call(obj)
        except DomainError as exc:
            messages.error(request, f"{describe(obj)}: {exc.detail}")
        else:
            succeeded.append(obj)
    if len(succeeded) <= ONE_MESSAGE_EACH:
        for obj in succeeded:
            messages.success(request, f"{done} {subject(obj)}.")
    else:
        noun = succeeded[0]._meta.verbose_name_plural
        total = amounts_of(succeeded)
        messages.success(
            request, f"{done} {len(succeeded)} {noun}" + (f": {total} in all." if total else ".")
        )
    return len(succeeded)


def amounts_of(objects: Iterable[Any]) -> str:
    """The total of objects that carry an amount and a currency (rewards), per currency:
    "4,500.00 INR" (or "" when none do), for a page that says what an action will move."""
    totals: dict[str, int] = {}
    for obj in objects:
        amount, currency = getattr(obj, "amount", None), getattr(obj, "currency", None)
        if isinstance(amount, int) and isinstance(currency, str):
            totals[currency] = totals.get(currency, 0) + amount
    return " + ".join(money(total, currency) for currency, total in sorted(totals.items()))


def reason_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    verb: str,
    call: Callable[[Model, str], Any],
    reason_required: bool = True,
    done: str | None = None,
) -> TemplateResponse | None:
    """An admin action's intermediate page: show the selected objects, ask for a reason, then
    call the service for each and say what was done (`done`, the past tense of `verb`).
    Returning None sends the user back to the change list."""
    if request.POST.get("confirmed"):
        form = ReasonForm(request.POST)
        form.fields["reason"].required = reason_required
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            past = done or PAST_TENSE.get(verb, verb)
            run_for_each(request, queryset, lambda obj: call(obj, reason), done=past)
            return None
    else:
        form = ReasonForm()
        form.fields["reason"].required = reason_required
    opts = modeladmin.model._meta
    objects = list(queryset)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "objects": objects,
        "amounts": amounts_of(objects),
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
        "opts": opts,
        "verb": verb,
        "reason_required": reason_required,
        "cancel_url": request.get_full_path(),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/ledger/reason_form.html", context)
