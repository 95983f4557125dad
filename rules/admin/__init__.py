"""Basic admin for the rules app. Changes to rules go through the API / builder (versions are
immutable), so versions and events are read-only here; publishing a rule asks for confirmation
on a page that says what the rule will pay, and the rules settings change through their audited
service. A participant's page (everything about one person) is rules/admin/participants.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from config.platform.admin.common import SUBJECTS, actor_of, money, run_for_each
from rules.action_registry import action_for
from rules.admin import (
    events,  # noqa: F401  (registers the event pages)
    participants,  # noqa: F401  (registers the participant's page)
)
from rules.explain import explain
from rules.models import (
    Referral,
    Rule,
    RuleProgramConfig,
    RulePublishRequest,
    RuleScenario,
    RuleVersion,
)
from rules.rewards import admin as rewards_admin  # noqa: F401  (registers the money domain's pages)
from rules.rule_results import results_window, rule_results
from rules.services.program_config import rules_config_errors, rules_config_update
from rules.services.publishing import rule_publish_checked
from rules.services.rules import program_catalog

_ROLES = {"referrer": "the referrer", "referred": "the referred user", "parent": "their referrer"}


def rule_pays(definition: dict[str, Any], currency: str) -> list[str]:
    """What a rule version will pay, one line per action and limit, money in major units with
    the currency (the console's one format): "the referrer: 500.00 INR (voucher)"."""
    lines = []
    for action in definition.get("actions") or ():
        params = action.get("params") or {}
        role = params.get("beneficiary") or "referrer"
        who = _ROLES.get(role, str(role))
        action_type = action_for(action.get("type"))
        if action_type is None:
            lines.append(f"{who}: {action.get('type')}")
        else:
            lines.append(action_type.pays(params, who=who, currency=currency))
    limits = definition.get("limits") or {}
    per = (limits.get("per_beneficiary") or {}).get("max_amount")
    if per:
        lines.append(f"limit: at most {money(per, currency)} per beneficiary")
    budget = (limits.get("budget") or {}).get("max_amount")
    if budget:
        lines.append(f"budget: at most {money(budget, currency)} in all")
    return lines


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ["referrer", "referred", "program", "created_at"]
    list_filter = ["program"]
    search_fields = ["referrer__external_id", "referred__external_id"]
    list_select_related = ["referrer", "referred", "program"]


class RuleVersionInline(admin.TabularInline):
    model = RuleVersion
    fields = ["version", "definition", "created_by", "created_at"]
    readonly_fields = ["version", "definition", "created_by", "created_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RulePublishRequestInline(admin.TabularInline):
    """Two-person publishing: who asked to publish which version, and who decided."""

    model = RulePublishRequest
    fields = (
        "version",
        "status",
        "requested_by",
        "created_at",
        "decided_by",
        "decided_at",
        "reason",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "publish requests"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("rules.view_rule")


class RuleScenarioInline(admin.TabularInline):
    """The rule's saved test scenarios and how each did on its last run."""

    model = RuleScenario
    fields = ("name", "event", "expect", "outcome")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("rules.view_rule")

    @admin.display(description="last run")
    def outcome(self, scenario: RuleScenario) -> str:
        last = scenario.last_result
        if not last:
            return "not run yet"
        verdict = "passed" if last.get("passed") else f"failed: {last.get('message', '')}"
        return f"version {last.get('version')}: {verdict}"


RULE_FIELDS = (
    "name",
    "in_words",
    "program",
    "status",
    "latest_version",
    "active_version",
    "trigger",
    "priority",
    "created_at",
    "updated_at",
    "results",
)


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdmin):
    list_display = ["name", "program", "status", "trigger", "priority", "latest_version"]
    list_filter = ["program", "status", "trigger"]
    search_fields = ["name"]
    fields = RULE_FIELDS
    readonly_fields = RULE_FIELDS
    inlines = [RuleVersionInline, RuleScenarioInline, RulePublishRequestInline]
    actions = ["publish"]

    @admin.display(description="In words (latest version)")
    def in_words(self, rule: Rule) -> str:
        return _in_words(rule, rule.versions.filter(version=rule.latest_version).first())

    @admin.display(description="Results (last 30 days)")
    def results(self, rule: Rule) -> str:
        """What the rule did (rules.rule_results, as GET P/rules/{id}/results): matches and
        rewards, money in major units with the currency."""
        start, end = results_window(None, None, today=timezone.now().date())
        figures = rule_results(rule=rule, start=start, end=end)
        currency = figures["currency"]
        rewards = figures["totals"]["rewards"]
        rows = [
            ("Matched events", str(figures["totals"]["matches"])),
            ("Rewards", f"{rewards['count']} · {money(rewards['amount'], currency)}"),
        ] + [
            (f"· {status.replace('_', ' ')}", f"{v['count']} · {money(v['amount'], currency)}")
            for status, v in sorted(rewards["by_status"].items())
        ]
        days = [d for d in figures["series"] if d["matches"] or d["rewards_count"]]
        table = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((label, value) for label, value in rows)
        )
        daily = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    d["date"],
                    d["matches"],
                    d["rewards_count"],
                    money(d["rewards_amount"], currency),
                )
                for d in days
            ),
        )
        return format_html(
            '<table class="rule-results">{}</table>{}',
            table,
            format_html(
                "<table><thead><tr><th>Day (UTC)</th><th>Matches</th><th>Rewards</th>"
                "<th>Amount</th></tr></thead><tbody>{}</tbody></table>",
                daily,
            )
            if days
            else format_html("<p>{}</p>", f"Nothing from {start} to {end}."),
        )

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rules.change_rule")

    @admin.action(
        description="Publish the latest version of selected rules…", permissions=["publish"]
    )
    def publish(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """Like Django's delete confirmation: a page that says what each rule will pay from
        now on, then publishing (through the audited service) once confirmed."""
        rules = list(queryset.select_related("program", "active_version"))
        if request.POST.get("confirmed") == "yes":
            actor = actor_of(request)

            def publish_one(rule: Any) -> Any:
                done = rule_publish_checked(rule=rule, actor=actor)
                if isinstance(done, RulePublishRequest):
                    messages.info(
                        request,
                        f"{rule.name}: publishing version {done.version.version} needs a second "
                        "person; a publish request is pending.",
                    )
                return done

            run_for_each(request, rules, publish_one, done="Published or asked to publish")
            return None
        rows = []
        for rule in rules:
            latest = rule.versions.filter(version=rule.latest_version).first()
            definition = latest.definition if latest else {}
            rows.append(
                {
                    "rule": rule,
                    "version": rule.latest_version,
                    "active": rule.active_version.version if rule.active_version else None,
                    "trigger": definition.get("trigger", ""),
                    "pays": rule_pays(definition, rule.program.currency),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Publish rules",
            "subtitle": None,
            "opts": self.model._meta,
            "rows": rows,
            "action": request.POST.get("action", "publish"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/rules/rule/publish_confirmation.html", context)


SUBJECTS[Rule] = lambda rule: f"rule “{rule.name}” version {rule.latest_version}"


def _in_words(rule: Rule, version: RuleVersion | None) -> str:
    """The version as a sentence (rules.explain), money in major units with the currency."""
    if version is None:
        return "—"
    try:
        return explain(
            version.definition,
            currency=rule.program.currency,
            catalog=program_catalog(program=rule.program),
        )
    except Exception:  # a stored definition the explainer cannot read: show the JSON only
        return "—"


@admin.register(RuleVersion)
class RuleVersionAdmin(ReadOnlyAdmin):
    list_display = ["rule", "version", "created_by", "created_at"]
    list_filter = ["rule__program"]
    fields = ("rule", "version", "in_words", "definition", "created_by", "created_at")
    readonly_fields = fields

    @admin.display(description="In words")
    def in_words(self, version: RuleVersion) -> str:
        return _in_words(version.rule, version)


CONFIG_FIELDS = (
    "fraud_max_referrals_per_hour",
    "fraud_match_attributes",
    "custom_catalog",
    "rules_publish_requires_approval",
)


class RuleProgramConfigForm(forms.ModelForm):
    class Meta:
        model = RuleProgramConfig
        fields = ["program", *CONFIG_FIELDS]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        changes = {f: data[f] for f in CONFIG_FIELDS if f in data}
        for error in rules_config_errors(changes):
            if error["field"] in self.fields:
                self.add_error(error["field"], error["message"])
        return data


@admin.register(RuleProgramConfig)
class RuleProgramConfigAdmin(admin.ModelAdmin):
    """Saved through `rules_config_update`, so every change of the fraud velocity, the match
    attributes or the custom triggers reaches the audit log (who, before, after)."""

    form = RuleProgramConfigForm
    list_display = [
        "program",
        "fraud_max_referrals_per_hour",
        "match_attributes",
        "rules_publish_requires_approval",
    ]
    fields = ["program", *CONFIG_FIELDS]

    @admin.display(description="Match attributes")
    def match_attributes(self, config: RuleProgramConfig) -> str:
        return ", ".join(config.fraud_match_attributes or []) or "default (email, device_id, ip)"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if not obj:
            return []
        # Switching two-person publishing off would let one person publish alone: it takes a
        # permission rule authors lack (switching it on does not).
        if obj.rules_publish_requires_approval and not request.user.has_perm(
            "rules.switch_off_publish_approval"
        ):
            return ["program", "rules_publish_requires_approval"]
        return ["program"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting would reset the fraud settings without a trace

    def save_model(self, request: HttpRequest, obj: RuleProgramConfig, form, change: bool) -> None:
        changes = {f: form.cleaned_data[f] for f in CONFIG_FIELDS if f in form.cleaned_data}
        # The form ran the service's checks (clean), so this does not refuse them.
        saved = rules_config_update(program=obj.program, changes=changes, actor=actor_of(request))
        obj.pk = saved.pk
