"""Admin for rewards and the fraud review queue. Every action asks for a reason on an
intermediate page and goes through the reward services (history, ledger and audit)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from config.platform.admin.common import (
    DESCRIBERS,
    SUBJECTS,
    ProgramColumnMixin,
    ReadOnlyAdmin,
    actor_of,
    export_csv,
    money,
    reason_page,
    status_badge,
)
from ledger.models import Transaction
from rules.rewards.models import HeldReward, Reward
from rules.rewards.selectors import reward_history
from rules.rewards.services.rewards import (
    reward_can_become,
    reward_clawback,
    reward_confirm,
    reward_release,
    reward_reverse,
)

# The status each admin action moves a reward to.
ACTION_STATUSES = {
    "confirm": Reward.Status.CONFIRMED,
    "reverse": Reward.Status.REVERSED,
    "clawback": Reward.Status.CLAWED_BACK,
}
# action name → (page title, button/verb, service call, reason required)
REWARD_ACTIONS: dict[str, tuple[str, str, Any, bool]] = {
    "confirm": (
        "Confirm rewards",
        "Confirm",
        lambda r, reason, actor: reward_confirm(reward=r, actor=actor, reason=reason),
        False,
    ),
    "reverse": (
        "Reverse rewards",
        "Reverse",
        lambda r, reason, actor: reward_reverse(reward=r, reason=reason, actor=actor),
        True,
    ),
    "clawback": (
        "Claw back paid rewards",
        "Claw back",
        lambda r, reason, actor: reward_clawback(reward=r, reason=reason, actor=actor),
        True,
    ),
    "release": (
        "Release held rewards",
        "Release",
        lambda r, reason, actor: reward_release(reward=r, reason=reason, actor=actor),
        True,
    ),
}


def _txn_link(txn: Transaction | None, label: str) -> tuple[str, str, str, str, str] | None:
    if txn is None:
        return None
    url = reverse("admin:ledger_transaction_change", args=[txn.pk])
    return (label, url, str(txn.pk), txn.kind, txn.created_at.strftime("%Y-%m-%d %H:%M:%S"))


def _reward_fieldsets(*, ledger: bool) -> list[Any]:
    fieldsets: list[tuple[str | None, dict[str, Any]]] = [
        (
            None,
            {
                "fields": [
                    "id",
                    "program",
                    "beneficiary",
                    "amount_display",
                    "reward_type",
                    "status_display",
                    "hold_reason",
                ]
            },
        ),
        ("Dates", {"fields": ["created_at", "confirmed_at", "paid_at"]}),
        ("History (every status change, who and why)", {"fields": ["history_table"]}),
    ]
    if ledger:
        fieldsets.append(("Ledger transactions", {"fields": ["ledger_transactions"]}))
    fieldsets.append(
        (
            "Source",
            {
                "fields": ["source_key", "metadata"],
                "classes": ["collapse"],
                "description": "What created the reward (its key makes a second reward for "
                "the same source impossible).",
            },
        )
    )
    return fieldsets


def _fields_of(fieldsets: list[tuple[str | None, dict[str, Any]]]) -> list[str]:
    return [f for _, options in fieldsets for f in options["fields"]]


class RewardActionsMixin(ProgramColumnMixin):
    """Changelist actions and per-reward buttons for the reward services, and the displays
    both reward admins share."""

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, reward: Reward) -> str:
        return money(reward.amount, reward.currency)

    @admin.display(description="Status", ordering="status")
    def status_display(self, reward: Reward) -> str:
        return status_badge(reward.status, reward.get_status_display())

    @admin.display(description="History")
    def history_table(self, reward: Reward) -> str:
        rows = (
            (
                status_badge(h.status, h.get_status_display()),
                h.at.strftime("%Y-%m-%d %H:%M:%S"),
                h.actor,
                h.reason or "—",
            )
            for h in reward_history(reward=reward)
        )
        return format_html(
            "<table class='reward-history console-table'><tr><th>Status</th><th>When</th>"
            "<th>By</th><th>Reason</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    def subtitle_of(self, request: HttpRequest, object_id: str) -> str | None:
        reward = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if reward is None:
            return None
        return (
            f"Reward {reward.pk}: {reward.beneficiary}, {money(reward.amount, reward.currency)} "
            f"({reward.get_status_display().lower()})"
        )

    object_actions: tuple[str, ...] = ()
    review_actions = False  # the review queue's actions need `review_reward`, not `change_reward`

    def _act(self, name: str, request: HttpRequest, queryset: QuerySet):
        title, verb, call, required = REWARD_ACTIONS[name]
        actor = actor_of(request)
        return reason_page(
            self,  # type: ignore[arg-type]
            request,
            queryset,
            title=title,
            verb=verb,
            call=lambda reward, reason: call(reward, reason, actor),
            reason_required=required,
        )

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.change_reward")

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.review_reward")

    def get_urls(self):
        opts = self.model._meta  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/act/<str:name>/",
                self.admin_site.admin_view(self.object_action_view),  # type: ignore[attr-defined]
                name=f"{opts.app_label}_{opts.model_name}_act",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def object_action_view(self, request: HttpRequest, object_id: str, name: str):
        may = self.has_review_permission if self.review_actions else self.has_operate_permission
        if name not in self.object_actions or not may(request):
            raise PermissionDenied
        # The admin's own lookup: an id that is not a number is 404, not a 500.
        reward = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if reward is None:
            raise Http404(f"No reward {object_id!r}.")
        queryset = self.model.objects.filter(pk=reward.pk)  # type: ignore[attr-defined]
        response = self._act(name, request, queryset)
        return response or HttpResponseRedirect(self.after_action_url(reward))

    def after_action_url(self, reward: Reward) -> str:
        return reverse("admin:ledger_reward_change", args=[reward.pk])


@admin.register(Reward)
class RewardAdmin(RewardActionsMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "beneficiary",
        "amount_display",
        "status_display",
        "reward_type",
        "on_hold",
        "program_slug",
        "created_at",
    ]
    list_filter = ["program", "status", "reward_type"]
    list_select_related = ["program"]
    search_fields = ["beneficiary", "source_key"]
    search_help_text = "Beneficiary (the participant's external id) or source key"
    date_hierarchy = "created_at"
    fieldsets = _reward_fieldsets(ledger=True)
    readonly_fields = _fields_of(fieldsets)
    changelist_hint = (
        "Every reward with its status. Select rewards and pick an action (confirm, reverse, claw "
        "back), or open one to see its history and ledger transactions."
    )
    empty_state = (
        "No rewards yet. Rewards appear here when a published rule pays one for an event, or "
        "when a reward is created through the API."
    )
    actions = ["confirm", "reverse", "clawback", export_csv]
    csv_fields = [
        "id",
        "program__slug",
        "beneficiary",
        "amount",
        "currency",
        "reward_type",
        "status",
        "hold_reason",
        "created_at",
    ]
    object_actions = ("confirm", "reverse", "clawback")
    change_form_template = "admin/ledger/reward/change_form.html"

    @admin.display(description="Review")
    def on_hold(self, reward: Reward) -> str:
        # The signal itself is in the tooltip and in the review queue.
        if not reward.hold_reason:
            return "—"
        return format_html(
            '<span class="status-badge tone-warn" title="{}">Held</span>', reward.hold_reason
        )

    @admin.display(description="Ledger transactions")
    def ledger_transactions(self, reward: Reward) -> str:
        txn = reward.transaction
        resolution = getattr(txn, "resolution", None) if txn else None
        reversal = getattr(resolution, "reversal", None) if resolution else None
        coverage = reward.payout_coverages.select_related("item").order_by("-attempt").first()
        payout = coverage.item.transaction if coverage else None
        rows = [
            _txn_link(txn, "booked (pending)"),
            _txn_link(
                resolution,
                "confirmed (post)" if resolution and resolution.kind == "post" else "voided",
            ),
            _txn_link(reversal, "reversed"),
            _txn_link(payout, f"paid by payout batch {coverage.item.batch_id}" if coverage else ""),
            _txn_link(reward.clawback_transaction, "clawed back"),
        ]
        return format_html(
            "<table class='reward-ledger console-table'><tr><th>Step</th><th>Transaction</th>"
            "<th>Type</th><th>When</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td></tr>",
                (r for r in rows if r),
            ),
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        reward = self.get_object(request, object_id)
        buttons = []
        if reward is not None and self.has_operate_permission(request):
            # The buttons of the steps TRANSITIONS allows from the reward's status.
            allowed = [
                a for a, to in ACTION_STATUSES.items() if reward_can_become(reward.status, to)
            ]
            if reward.hold_reason:
                allowed = [a for a in allowed if a != "confirm"]
            buttons = [
                (REWARD_ACTIONS[a][1], reverse("admin:ledger_reward_act", args=[reward.pk, a]))
                for a in allowed
            ]
        extra = {"reward_buttons": buttons, "subtitle": self.subtitle_of(request, object_id)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description="Confirm selected rewards…", permissions=["operate"])
    def confirm(self, request: HttpRequest, queryset: QuerySet):
        return self._act("confirm", request, queryset)

    @admin.action(description="Reverse selected rewards…", permissions=["operate"])
    def reverse(self, request: HttpRequest, queryset: QuerySet):
        return self._act("reverse", request, queryset)

    @admin.action(description="Claw back selected paid rewards…", permissions=["operate"])
    def clawback(self, request: HttpRequest, queryset: QuerySet):
        return self._act("clawback", request, queryset)


@admin.register(HeldReward)
class HeldRewardAdmin(RewardActionsMixin, ReadOnlyAdmin):
    """The review queue: pending rewards a fraud signal held. Release (then confirm) or
    reverse, with a reason."""

    list_display = [
        "id",
        "beneficiary",
        "amount_display",
        "signal",
        "program_slug",
        "created_at",
    ]
    list_filter = ["program"]
    list_select_related = ["program"]
    search_fields = ["beneficiary", "hold_reason"]
    search_help_text = "Beneficiary or fraud signal (e.g. self_referral)"
    ordering = ["created_at", "id"]  # oldest first: the queue is worked from the top
    fieldsets = _reward_fieldsets(ledger=False)
    readonly_fields = _fields_of(fieldsets)
    changelist_hint = (
        "Pending rewards a fraud signal held; they never confirm automatically. Open one (or "
        "select several) to release it (it then confirms like any other) or reverse it; both "
        "ask for a reason. Oldest first."
    )
    empty_state = (
        "No rewards are waiting for review. A reward lands here when a fraud signal holds it: "
        "a self-referral (same email, device or IP as the referrer), too many referrals per "
        "hour, or an amount above the program's fraud threshold."
    )

    @admin.display(description="Fraud signal", ordering="hold_reason")
    def signal(self, reward: Reward) -> str:
        return reward.hold_reason

    actions = ["release", "reverse"]
    object_actions = ("release", "reverse")
    review_actions = True
    change_form_template = "admin/ledger/reward/change_form.html"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        buttons = []
        if self.has_review_permission(request):
            buttons = [
                (REWARD_ACTIONS[a][1], reverse("admin:ledger_heldreward_act", args=[object_id, a]))
                for a in self.object_actions
            ]
        extra = {"reward_buttons": buttons, "subtitle": self.subtitle_of(request, object_id)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def after_action_url(self, reward: Reward) -> str:
        # A decided reward leaves the queue: back to the queue.
        return reverse("admin:ledger_heldreward_changelist")

    @admin.action(description="Release selected rewards (end the hold)…", permissions=["review"])
    def release(self, request: HttpRequest, queryset: QuerySet):
        return self._act("release", request, queryset)

    @admin.action(description="Reverse selected rewards…", permissions=["review"])
    def reverse(self, request: HttpRequest, queryset: QuerySet):
        return self._act("reverse", request, queryset)


def describe_reward(reward: Reward) -> str:
    return (
        f"Reward {reward.pk}: {reward.beneficiary}, {money(reward.amount, reward.currency)} "
        f"({reward.get_status_display().lower()})"
    )


def reward_subject(reward: Reward) -> str:
    """A reward as a success message names it: "reward 3 for alice: 50.00 INR"."""
    return f"reward {reward.pk} for {reward.beneficiary}: {money(reward.amount, reward.currency)}"


DESCRIBERS[Reward] = describe_reward
DESCRIBERS[HeldReward] = describe_reward
SUBJECTS[Reward] = reward_subject
SUBJECTS[HeldReward] = reward_subject
