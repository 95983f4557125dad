"""API keys and the audit log in the operator console."""

from __future__ import annotations

import re
from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from config.platform.admin.common import (
    SUBJECTS,
    ProgramColumnMixin,
    ReadOnlyAdmin,
    actor_of,
    audit_value,
    export_csv,
    reason_page,
    status_badge,
)
from config.platform.api_keys import api_key_create, api_key_revoke
from config.platform.models import ApiKey, AuditEntry
from config.platform.selectors import AUDIT_PARTICIPANT_KEYS, audit_about_participant


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


SUBJECTS[ApiKey] = lambda key: f"API key {key.prefix}… ({key.name}) of {key.program.slug}"


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


# Keys that say what the object is rather than what changed (shown with the object).
AUDIT_CONTEXT_KEYS = frozenset({"id", "currency", "created_at", "item"})
_MISSING = object()


def audit_changes(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """What an entry changed, as (field, before, after), money in major units ("—": the field
    was absent):
    - a creation (no before): the fields it was created with that have a value, before None;
    - otherwise the fields whose value differs. A field only in `after` is a change when
      `before` is a snapshot (it holds a field that did not change); when `before` names only
      what changed (a reward's {"status": "pending"}), `after` is the object's payload and its
      other fields are context, not changes."""
    before, after = entry.before or {}, entry.after or {}
    currency = after.get("currency") or before.get("currency")
    if not isinstance(currency, str):
        currency = entry.program.currency if entry.program else None

    def shown(key: str, value: Any) -> Any:
        if value is _MISSING:
            return "—"
        return audit_value(key, value, object_type=entry.object_type, currency=currency)

    if not before:
        return [
            (k, None, shown(k, v))
            for k, v in after.items()
            if k not in AUDIT_CONTEXT_KEYS and v not in (None, "", {}, [])
        ]
    snapshot = any(after.get(k, _MISSING) == v for k, v in before.items())
    keys = [*before, *(k for k in after if k not in before and snapshot)]
    return [
        (k, shown(k, before.get(k, _MISSING)), shown(k, after.get(k, _MISSING)))
        for k in keys
        if before.get(k, _MISSING) != after.get(k, _MISSING)
    ]


def _breakable(text: str) -> SafeString:
    """Text that may wrap after its punctuation ("reward.<wbr>confirmed", "user:<wbr>alice"),
    so narrow columns break between words, never inside one."""
    return format_html_join(
        "", "{}{}", ((part, mark_safe("<wbr>")) for part in re.split(r"(?<=[.:_-])", text))
    )


class AuditParticipantFilter(admin.SimpleListFilter):
    """`?participant=<external id>`: the entries about one participant (their own, and those
    naming them as beneficiary, user, referrer or referred). Shown in the sidebar only while
    it filters (the participant's page links here)."""

    title = "participant"
    parameter_name = "participant"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(audit_about_participant(value)) if value else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ProgramColumnMixin, ReadOnlyAdmin):
    list_display = [
        "when",
        "actor_short",
        "action_short",
        "object_link",
        "change_list",
        "reason_short",
    ]
    list_display_links = ["when"]
    list_filter = [AuditParticipantFilter, "program", "action", "object_type"]
    list_select_related = ["program"]
    list_per_page = 50
    # A participant's external id finds their entries exactly (beneficiary, user, referrer,
    # referred); the other fields match a part.
    search_fields = [
        "actor",
        "object_id",
        "request_id",
        "reason",
        *(f"=after__{key}" for key in AUDIT_PARTICIPANT_KEYS),
    ]
    search_help_text = (
        "A participant's external id, who (user:alice, api_key:…), object id, request id or reason"
    )
    date_hierarchy = "at"
    changelist_hint = (
        "Every change to money or settings: who did it, when, to what and why, with only the "
        "fields that changed (before → after). Entries can never be edited or deleted."
    )
    empty_state = "No audit entries yet: nothing has changed."

    @admin.display(description="Object", ordering="object_type")
    def object_link(self, entry: AuditEntry) -> str:
        label = f"{entry.object_type.replace('_', ' ')} {entry.object_id}"
        page = AUDIT_OBJECT_PAGES.get(entry.object_type)
        url = None
        if page is not None:
            # Programs are audited by slug; their page is by primary key.
            pk = entry.program_id if entry.object_type == "program" else entry.object_id
            try:
                url = reverse(page, args=[pk])
            except NoReverseMatch:
                url = None
        link = format_html("<a href='{}'>{}</a>", url, label) if url else label
        who = self._participants(entry)
        if not who:
            return link
        return format_html("{}<br><span class='audit-who'>{}</span>", link, who)

    def _participants(self, entry: AuditEntry) -> str:
        """Who the entry is about: the external ids it names (a referral's two sides)."""
        values = {**(entry.before or {}), **(entry.after or {})}
        names = [values[k] for k in AUDIT_PARTICIPANT_KEYS if isinstance(values.get(k), str)]
        return " → ".join(dict.fromkeys(n for n in names if n))

    @admin.display(description="When", ordering="at")
    def when(self, entry: AuditEntry) -> str:
        return timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Actor", ordering="actor")
    def actor_short(self, entry: AuditEntry) -> str:
        return format_html(
            "<span title='{}'>{}</span>", entry.actor, _breakable(Truncator(entry.actor).chars(32))
        )

    @admin.display(description="Action", ordering="action")
    def action_short(self, entry: AuditEntry) -> str:
        return _breakable(entry.action)

    @admin.display(description="Changed (before → after)")
    def change_list(self, entry: AuditEntry) -> str:
        changes = audit_changes(entry)
        if not changes:
            return "—"
        return format_html(
            "<ul class='audit-changes'>{}</ul>",
            format_html_join(
                "",
                "<li><span class='audit-field'>{}</span> {}</li>",
                (
                    (
                        field,
                        format_html(
                            "{} → {}", Truncator(str(old)).chars(40), Truncator(str(new)).chars(40)
                        )
                        if old is not None
                        else Truncator(str(new)).chars(60),
                    )
                    for field, old, new in changes
                ),
            ),
        )

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
