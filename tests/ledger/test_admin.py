"""The operator console, part 1: read-only ledger, rewards with reason pages, the review queue,
audit log, programs, API keys, groups and the dashboard (Django's test client)."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.urls import reverse

from config.platform.models import ApiKey, AuditEntry, Program
from ledger.models import Account, Posting, Transaction
from rules.rewards.models import Reward, RewardHistory
from rules.rewards.services import payouts
from rules.rewards.services.rewards import reward_create
from rules.services.referrals import referral_create
from tests.ledger.operator_fixtures import *  # noqa: F403
from tests.ledger.operator_fixtures import APPROVER

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(staff):
    return staff("root", superuser=True)


@pytest.fixture
def ops(staff):
    return staff("olga", "operators")


def _held(program, key="held", reason="self_referral: same email as referrer"):
    return reward_create(
        program=program,
        beneficiary="mallory",
        amount=900,
        currency="INR",
        reward_type="cash",
        source_key=key,
        hold_reason=reason,
        actor="rule:1",
    )[0]


def _action(client, model: str, action: str, pks, **extra):
    return client.post(
        reverse(f"admin:ledger_{model}_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], **extra},
    )


# --- the ledger is read-only for everyone -------------------------------------------------------


@pytest.mark.parametrize("model", ["account", "transaction", "posting", "auditentry"])
def test_ledger_models_are_read_only_even_for_superusers(root, program, confirmed_reward, model):
    confirmed_reward("carol", 100)
    obj = {
        "account": Account.objects.first,
        "transaction": Transaction.objects.first,
        "posting": Posting.objects.first,
        "auditentry": AuditEntry.objects.first,
    }[model]()
    assert obj is not None
    assert root.get(reverse(f"admin:ledger_{model}_changelist")).status_code == 200
    assert root.get(reverse(f"admin:ledger_{model}_add")).status_code == 403
    assert root.get(reverse(f"admin:ledger_{model}_delete", args=[obj.pk])).status_code == 403
    page = root.get(reverse(f"admin:ledger_{model}_change", args=[obj.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert root.post(reverse(f"admin:ledger_{model}_change", args=[obj.pk]), {}).status_code == 403


def test_transactions_are_searchable_by_user_reference_and_idempotency_key(
    root, api, url, program, confirmed_reward
):
    reward = confirmed_reward("carol", 100)
    confirmed_reward("dave", 100)
    created = api.post(
        url("transactions"),
        {
            "postings": [
                {"account": "program:rewards_expense", "direction": "debit", "amount": 5},
                {"account": "program:payouts_clearing", "direction": "credit", "amount": 5},
            ]
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-7781",
    ).json()
    changelist = reverse("admin:ledger_transaction_changelist")

    by_user = root.get(changelist, {"q": "user:carol:"}).context["cl"].result_list
    assert {t.pk for t in by_user} == {reward.transaction_id, reward.transaction.resolution.pk}
    by_key = root.get(changelist, {"q": "order-7781"}).context["cl"].result_list
    assert [str(t.pk) for t in by_key] == [created["id"]]
    by_ref = root.get(changelist, {"q": reward.transaction.reference}).context["cl"].result_list
    assert reward.transaction_id in {t.pk for t in by_ref}
    accounts = root.get(reverse("admin:ledger_account_changelist"), {"q": "carol"})
    assert [a.code for a in accounts.context["cl"].result_list] == ["user:carol:rewards"]


@pytest.mark.parametrize(
    ("model", "header"),
    [
        ("account", "program__slug,code,kind,currency,no_overdraft,created_at"),
        ("transaction", "id,program__slug,kind,status,reference,description,created_at"),
        ("posting", "transaction_id,account__code,direction,amount,currency,kind,created_at"),
        ("auditentry", "at,program__slug,actor,action,object_type,object_id,before,after"),
    ],
)
def test_csv_export(root, program, confirmed_reward, model, header):
    confirmed_reward("carol", 100)
    models: dict[str, type[Account | Transaction | Posting]] = {
        "account": Account,
        "transaction": Transaction,
        "posting": Posting,
    }
    manager = models.get(model)
    pks = (manager or AuditEntry).objects.values_list("pk", flat=True)
    r = _action(root, model, "export_csv", pks)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = r.content.decode().splitlines()
    assert lines[0].startswith(header) and len(lines) == len(pks) + 1


# --- rewards: actions through a reason page ----------------------------------------------------


def test_reverse_asks_for_a_reason_first(ops, program, confirmed_reward):
    reward = confirmed_reward("carol", 100)
    page = _action(ops, "reward", "reverse", [reward.pk])
    assert page.status_code == 200 and b'name="reason"' in page.content
    assert b"Reverse" in page.content
    reward.refresh_from_db()
    assert reward.status == "confirmed"  # nothing happens before the reason is given

    again = _action(ops, "reward", "reverse", [reward.pk], confirmed="yes", reason="")
    assert again.status_code == 200 and b"required" in again.content
    reward.refresh_from_db()
    assert reward.status == "confirmed"

    done = _action(ops, "reward", "reverse", [reward.pk], confirmed="yes", reason="fraud ring")
    assert done.status_code == 302
    reward.refresh_from_db()
    assert reward.status == "reversed"
    last = RewardHistory.objects.filter(reward=reward).last()
    assert last is not None
    assert (last.actor, last.reason) == ("user:olga", "fraud ring")


def test_confirm_and_clawback_actions(ops, program, confirmed_reward, approved_batch):
    pending = reward_create(
        program=program,
        beneficiary="carol",
        amount=100,
        currency="INR",
        reward_type="cash",
        source_key="p",
        actor="t",
    )[0]
    page = _action(ops, "reward", "confirm", [pending.pk])
    assert page.status_code == 200 and b'name="reason"' in page.content
    _action(ops, "reward", "confirm", [pending.pk], confirmed="yes", reason="")  # optional
    pending.refresh_from_db()
    assert pending.status == "confirmed"

    payouts.payout_batch_execute(batch=approved_batch({"carol": None}), actor=APPROVER)
    _action(ops, "reward", "clawback", [pending.pk], confirmed="yes", reason="chargeback")
    pending.refresh_from_db()
    assert pending.status == "clawed_back"
    assert AuditEntry.objects.filter(action="reward.clawed_back", actor="user:olga").exists()


def test_refused_steps_are_reported_and_others_proceed(ops, program, confirmed_reward):
    ok = confirmed_reward("carol", 100)
    paid_like = confirmed_reward("dave", 100)
    Reward.objects.filter(pk=paid_like.pk).update(status="reversed")
    r = _action(ops, "reward", "clawback", [ok.pk, paid_like.pk], confirmed="yes", reason="refund")
    texts = [m.message for m in r.wsgi_request._messages]
    assert any("only a paid reward" in t for t in texts)


def test_reward_page_shows_history_ledger_and_buttons(ops, program, confirmed_reward):
    reward = confirmed_reward("carol", 100)
    page = ops.get(reverse("admin:ledger_reward_change", args=[reward.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "history" in html.lower() and "confirmed" in html
    assert str(reward.transaction_id) in html and str(reward.transaction.resolution.pk) in html
    assert reverse("admin:ledger_reward_act", args=[reward.pk, "reverse"]) in html
    assert reverse("admin:ledger_reward_act", args=[reward.pk, "confirm"]) not in html

    url = reverse("admin:ledger_reward_act", args=[reward.pk, "reverse"])
    assert b'name="reason"' in ops.get(url).content
    r = ops.post(url, {"confirmed": "yes", "reason": "duplicate"})
    assert r.status_code == 302
    reward.refresh_from_db()
    assert reward.status == "reversed"


def test_viewers_cannot_act_on_rewards(staff, program, confirmed_reward):
    viewer = staff("vera", "approvers")
    reward = confirmed_reward("carol", 100)
    page = viewer.get(reverse("admin:ledger_reward_changelist"))
    assert page.status_code == 200 and b'value="reverse"' not in page.content
    url = reverse("admin:ledger_reward_act", args=[reward.pk, "reverse"])
    assert viewer.post(url, {"confirmed": "yes", "reason": "x"}).status_code == 403
    reward.refresh_from_db()
    assert reward.status == "confirmed"


# --- review queue ------------------------------------------------------------------------------


def test_review_queue_lists_held_rewards_with_their_signal(ops, program, confirmed_reward):
    held = _held(program)
    confirmed_reward("carol", 100)
    page = ops.get(reverse("admin:ledger_heldreward_changelist"))
    assert [r.pk for r in page.context["cl"].result_list] == [held.pk]
    assert b"self_referral: same email as referrer" in page.content


def test_release_from_the_queue(ops, program):
    held = _held(program)
    page = _action(ops, "heldreward", "release", [held.pk])
    assert b'name="reason"' in page.content
    _action(ops, "heldreward", "release", [held.pk], confirmed="yes", reason="family, verified")
    held.refresh_from_db()
    assert held.hold_reason == "" and held.status == "pending"
    entry = AuditEntry.objects.get(action="reward.released")
    assert (entry.actor, entry.reason) == ("user:olga", "family, verified")


def test_reverse_from_the_queue_page(ops, program):
    held = _held(program)
    url = reverse("admin:ledger_heldreward_act", args=[held.pk, "reverse"])
    detail = ops.get(reverse("admin:ledger_heldreward_change", args=[held.pk]))
    assert url in detail.content.decode()
    r = ops.post(url, {"confirmed": "yes", "reason": "same device as referrer"})
    assert r.status_code == 302 and r["Location"] == reverse("admin:ledger_heldreward_changelist")
    held.refresh_from_db()
    assert held.status == "reversed"


# --- programs and API keys ---------------------------------------------------------------------


def test_program_created_and_changed_through_services(root):
    r = root.post(
        reverse("admin:ledger_program_add"),
        {
            "slug": "beta",
            "currency": "USD",
            "operation_set": "core",
            "name": "Beta",
            "direct_rate_bps": 1000,
            "override_rate_bps": 200,
            "hold_days": 0,
            # Major units of the new program's currency, as an operator types them.
            "min_payout": "5",
            "fraud_amount_threshold": "1,000.00",
        },
    )
    assert r.status_code == 302, r.context and r.context["adminform"].form.errors
    beta = Program.objects.get(slug="beta")
    assert beta.fraud_amount_threshold == 100000 and beta.min_payout == 500
    assert Account.objects.filter(program=beta, code="program:payouts_clearing").exists()
    assert AuditEntry.objects.filter(action="program.created", actor="user:root").exists()

    r = root.post(
        reverse("admin:ledger_program_change", args=[beta.pk]),
        {
            "name": "Beta Rewards",
            "direct_rate_bps": 1000,
            "override_rate_bps": 200,
            "hold_days": 7,
            "min_payout": "5.00",
            "fraud_amount_threshold": "1000",
        },
    )
    assert r.status_code == 302
    beta.refresh_from_db()
    assert (beta.name, beta.hold_days, beta.currency) == ("Beta Rewards", 7, "USD")
    entry = AuditEntry.objects.filter(action="program.updated").order_by("at", "pk").last()
    assert entry is not None
    assert entry.before == {"name": "Beta", "hold_days": 0}


def test_api_key_shown_once_and_revoked(root, program, api, url):
    r = root.post(
        reverse("admin:ledger_apikey_add"), {"program": program.pk, "name": "shop"}, follow=True
    )
    text = " ".join(str(m.message) for m in r.context["messages"])
    raw = text.split("<code class='raw-api-key'>")[1].split("</code>")[0]
    key = ApiKey.objects.get(name="shop")
    assert raw.startswith(key.prefix)
    client = type(api)()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(url("payout-batches")).status_code == 200
    assert (
        raw.encode() not in root.get(reverse("admin:ledger_apikey_change", args=[key.pk])).content
    )

    page = _action(root, "apikey", "revoke", [key.pk])
    assert b'name="reason"' in page.content
    _action(root, "apikey", "revoke", [key.pk], confirmed="yes", reason="leaked in a log")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get(url("payout-batches")).status_code == 401


# --- groups and dashboard ----------------------------------------------------------------------


def test_groups_have_fitting_permissions(groups):
    def perms(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    assert {"approve_payoutbatch", "view_payoutbatch"} <= perms("approvers")
    assert "execute_payoutbatch" not in perms("approvers")
    assert {"execute_payoutbatch", "change_reward", "review_reward"} <= perms("operators")
    assert "approve_payoutbatch" not in perms("operators")
    ledger_perms = set(
        Group.objects.get(name="rule authors")
        .permissions.filter(content_type__app_label="ledger")
        .values_list("codename", flat=True)
    )
    assert ledger_perms and not any(
        p.startswith(("add_", "change_", "delete_")) for p in ledger_perms
    )
    # The rules app grants rule authors what the builder needs (rules migration 0002).
    assert {"add_rule", "change_rule", "view_ruleversion"} <= perms("rule authors")


def test_dashboard_on_the_index(ops, program, confirmed_reward):
    confirmed_reward("carol", 1000)
    confirmed_reward("carol", 500)
    confirmed_reward("dave", 700)
    _held(program)
    for friend in ("erin", "frank"):
        referral_create(program=program, referrer="carol", referred=friend, actor="test")
    page = ops.get(reverse("admin:index"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "npm/chart.js/dist/chart.umd.js" in html and "admin_dashboard/dashboard.js" in html
    data = json.loads(html.split('id="dashboard-data" type="application/json">')[1].split("<")[0])
    assert data["totals"]["confirmed"] == {"amount": 2200, "count": 3}
    assert data["totals"]["pending"] == {"amount": 900, "count": 1}
    # Top referrers are who referred someone (dave earned, but referred nobody).
    assert data["top_referrers"] == [{"referrer": "carol", "referrals": 2, "amount": 1500}]
    assert sum(data["per_day"]["count"]) == 4 and len(data["per_day"]["labels"]) == 30
