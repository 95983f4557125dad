"""The operator console, part 3: what an operator sees first (the "needs attention" box and the
dashboard beside the app list) and how the lists read: money in major units with the currency,
statuses as words, empty states that say what to do (Django's test client)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.platform.models import AuditEntry
from ledger.models import ReconciliationRun, Transaction
from rules.rewards.models import PayoutBatch
from rules.rewards.services import payouts
from rules.rewards.services.rewards import reward_create
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(staff):
    return staff("olga", "operators")


def _held(program, key="held", amount=900):
    return reward_create(
        program=program,
        beneficiary="mallory",
        amount=amount,
        currency="INR",
        reward_type="cash",
        source_key=key,
        hold_reason="self_referral: same email as referrer",
        actor="rule:1",
    )[0]


def _attention(html: str) -> dict[str, dict[str, str]]:
    """The "needs attention" tiles by key: their level, link, value and label."""
    box = html.split('id="needs-attention"')[1].split("</section>")[0]
    items = {}
    for m in re.finditer(
        r'class="attention-item level-(\w+)" data-key="(\w+)">\s*<a class="tile" href="([^"]+)">'
        r'\s*<span class="attention-value">([^<]*)</span>\s*<span class="attention-label">([^<]*)',
        box,
    ):
        level, key, url, value, label = m.groups()
        items[key] = {"level": level, "url": url.replace("&amp;", "&"), "value": value}
        items[key]["label"] = label
    return items


def _index(client) -> str:
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    return page.content.decode()


# --- the index: needs attention, dashboard and app list together --------------------------------


def test_needs_attention_counts_and_links(ops, program, confirmed_reward, approved_batch):
    _held(program)
    _held(program, key="held-2")
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 500)
    approved_batch({"carol": None})
    pending = payouts.payout_batch_create(program=program, actor="user:zed")
    payouts.payout_item_add(batch=pending, beneficiary="dave", amount=None, actor="user:zed")
    payouts.payout_batch_submit(batch=pending, actor="user:zed")

    items = _attention(_index(ops))

    assert items["held"] == {
        "level": "warn",
        "url": reverse("admin:ledger_heldreward_changelist"),
        "value": "2",
        "label": "held rewards awaiting review",
    }
    batches = reverse("admin:ledger_payoutbatch_changelist")
    assert items["pending_approval"]["value"] == "1"
    assert items["pending_approval"]["label"] == "payout batch awaiting approval"
    assert items["pending_approval"]["url"] == f"{batches}?status__exact=pending_approval"
    assert items["approved"]["value"] == "1"
    assert items["approved"]["url"] == f"{batches}?status__exact=approved"
    # The links land on lists that hold exactly what the tile counted.
    listed = ops.get(items["pending_approval"]["url"]).context["cl"].result_list
    assert [b.pk for b in listed] == [pending.pk]
    assert len(ops.get(items["held"]["url"]).context["cl"].result_list) == 2


def test_nothing_to_do_reads_as_ok(ops, program):
    items = _attention(_index(ops))
    assert items["held"]["level"] == "ok" and items["held"]["value"] == "0"
    assert items["pending_approval"]["level"] == "ok"
    assert items["reconciliation"]["value"] == "Never run"
    assert items["reconciliation"]["level"] == "warn"


def test_failed_events_are_counted_through_the_rules_admin(staff, ops, program):
    from rules.models import Event, Participant

    participant = Participant.objects.create(program=program, external_id="p1", referral_code="c1")
    for n, status in enumerate(["failed", "failed", "processed"]):
        Event.objects.create(
            program=program,
            event_id=f"e{n}",
            type="purchase",
            participant=participant,
            occurred_at=timezone.now(),
            body_hash="x",
            status=status,
        )
    root = staff("root", superuser=True)
    item = _attention(_index(root))["failed_events"]
    assert item["value"] == "2" and item["level"] == "alert"
    assert item["url"] == reverse("admin:rules_event_changelist") + "?status__exact=failed"
    assert len(root.get(item["url"]).context["cl"].result_list) == 2
    # Operators may open the events list (rules migration 0002); someone who may not, never
    # sees the tile.
    assert _attention(_index(ops))["failed_events"]["value"] == "2"
    assert "failed_events" not in _attention(_index(staff("approver", "approvers")))


def test_latest_reconciliation_status_and_age(ops, program):
    old = ReconciliationRun.objects.create(
        program=program,
        status="clean",
        actor="t",
        finished_at=timezone.now() - timedelta(days=3),
    )
    item = _attention(_index(ops))["reconciliation"]
    assert item["value"] == "Clean" and item["level"] == "warn"  # clean, but overdue
    assert item["url"] == reverse("admin:ledger_reconciliationrun_change", args=[old.pk])
    assert "overdue" in _index(ops)

    bad = ReconciliationRun.objects.create(
        program=None,
        status="discrepancies",
        findings=[{"check": "reward_states"}, {"check": "payout_transfers"}],
        actor="t",
    )
    item = _attention(_index(ops))["reconciliation"]
    assert (item["value"], item["level"]) == ("Discrepancies", "alert")
    assert item["label"] == "last reconciliation (all programs): 2 findings"
    assert item["url"] == reverse("admin:ledger_reconciliationrun_change", args=[bad.pk])

    ReconciliationRun.objects.create(program=program, status="clean", actor="t")
    item = _attention(_index(ops))["reconciliation"]
    assert (item["value"], item["level"]) == ("Clean", "ok")


def test_attention_shows_only_what_the_user_may_see(staff, program):
    _held(program)
    nobody = staff("nina")  # staff without any group
    assert 'id="needs-attention"' not in _index(nobody)
    approver = staff("vera", "approvers")
    keys = set(_attention(_index(approver)))
    assert "pending_approval" in keys


def test_dashboard_and_app_list_share_the_index(ops, program, confirmed_reward):
    confirmed_reward("carol", 164600)
    html = _index(ops)
    # One grid: attention and dashboard in the main column, the app list beside them; Django's
    # "Recent actions" (always empty for operators, who act through services) is gone.
    grid = html.split('id="console-index"')[1]
    assert grid.index('id="needs-attention"') < grid.index('id="program-dashboard"')
    assert 'id="content-main" class="app-list"' in grid
    assert reverse("admin:ledger_reward_changelist") in grid
    assert "recent-actions-module" not in html
    assert "admin_dashboard/console.css" in html

    data = json.loads(html.split('id="dashboard-data" type="application/json">')[1].split("<")[0])
    assert (data["currency"], data["exponent"]) == ("INR", 2)
    assert data["totals"]["confirmed"]["amount"] == 164600  # the data stays in minor units
    totals = html.split('class="totals"')[1].split("</div>\n    </div>")[0]
    assert "1,646.00 INR" in totals and "1 reward<" in totals


def test_dashboard_script_formats_money_in_major_units():
    """The charts show "Amount (INR)" in major units; the page's data is minor units."""
    path = finders.find("admin_dashboard/dashboard.js")
    assert isinstance(path, str)
    script = open(path).read()
    assert "minor units)" not in script  # the old "Amount (INR, minor units)" axis label
    assert "10 ** data.exponent" in script and "Amount (${data.currency})" in script


def test_favicon_is_linked_from_admin_and_builder(ops, staff):
    assert finders.find("favicon.svg")
    assert 'rel="icon" href="/static/favicon.svg"' in _index(ops)
    login = Client().get(reverse("admin:login")).content.decode()  # the page that comes first
    assert 'rel="icon" href="/static/favicon.svg"' in login
    root = staff("root", superuser=True)
    builder = root.get(reverse("builder:index")).content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in builder


# --- change lists and pages as an operator reads them ------------------------------------------


def test_reward_lists_show_major_units_and_readable_status(ops, program, confirmed_reward):
    confirmed_reward("carol", 123456)
    held = _held(program, amount=750)
    rewards = ops.get(reverse("admin:ledger_reward_changelist")).content.decode()
    assert "1,234.56 INR" in rewards and "7.50 INR" in rewards
    assert 'data-status="confirmed">Confirmed<' in rewards
    assert 'title="self_referral: same email as referrer">Held<' in rewards

    queue = ops.get(reverse("admin:ledger_heldreward_changelist")).content.decode()
    assert "7.50 INR" in queue and "Fraud signal" in queue and 'id="changelist-hint"' in queue

    page = ops.get(reverse("admin:ledger_reward_change", args=[held.pk])).content.decode()
    assert f"Reward {held.pk}: mallory, 7.50 INR (pending)" in page
    assert "History (every status change" in page


def test_reason_page_names_rewards_in_major_units(ops, program, confirmed_reward):
    reward = confirmed_reward("carol", 123456)
    page = ops.post(
        reverse("admin:ledger_reward_changelist"),
        {"action": "reverse", ACTION_CHECKBOX_NAME: [str(reward.pk)]},
    ).content.decode()
    assert f"Reward {reward.pk}: carol, 1,234.56 INR (confirmed)" in page
    assert "Reverse 1 reward, 1,234.56 INR in all:" in page


def test_empty_states_say_what_to_do(ops, program):
    keys = ops.get(reverse("admin:ledger_apikey_changelist")).content.decode()
    assert 'id="empty-state"' in keys and "No API keys yet" in keys
    queue = ops.get(reverse("admin:ledger_heldreward_changelist")).content.decode()
    assert "No rewards are waiting for review" in queue
    runs = ops.get(reverse("admin:ledger_reconciliationrun_changelist")).content.decode()
    assert "No reconciliation has run yet" in runs and 'id="run-now"' in runs
    searched = ops.get(reverse("admin:ledger_reward_changelist"), {"q": "nobody"}).content.decode()
    assert "No rewards match this search or these filters" in searched


def test_payout_batches_say_what_comes_next(staff, program, confirmed_reward, approved_batch):
    alice = staff("alice", "operators")
    confirmed_reward("carol", 150000)
    batch = approved_batch({"carol": None})
    listing = alice.get(reverse("admin:ledger_payoutbatch_changelist")).content.decode()
    assert "1,500.00 INR" in listing and "Approved: ready to execute" in listing
    assert 'data-status="approved">Approved<' in listing
    detail = alice.get(reverse("admin:ledger_payoutbatch_change", args=[batch.pk]))
    html = detail.content.decode()
    assert 'id="batch-next-step">Approved: ready to execute<' in html
    assert "minor units" not in html.split('id="batch-total"')[1].split("</td>")[0]
    assert PayoutBatch.objects.get().status == "approved"


def test_reconciliation_run_page_explains_each_check(ops, program):
    ops.post(reverse("admin:ledger_reconciliationrun_run"), {"program": program.pk})
    run = ReconciliationRun.objects.get()
    page = ops.get(reverse("admin:ledger_reconciliationrun_change", args=[run.pk])).content
    html = page.decode()
    assert "Every transaction&#x27;s debits equal its credits" in html
    assert "None: every check passed, the books balance." in html
    listing = ops.get(reverse("admin:ledger_reconciliationrun_changelist")).content.decode()
    assert 'data-status="clean">Clean<' in listing


def test_program_fields_explain_themselves(staff, program):
    root = staff("root", superuser=True)
    add = root.get(reverse("admin:ledger_program_add")).content.decode()
    assert "Direct commission (basis points)" in add and "100 = 1%, 1000 = 10%" in add
    assert "Hold rewards above" in add and "Empty = no threshold" in add
    assert "minor units" not in add
    program.min_payout = 50000
    program.save()
    change = root.get(reverse("admin:ledger_program_change", args=[program.pk])).content.decode()
    assert "Now: 500.00 INR." in change
    listing = root.get(reverse("admin:ledger_program_changelist")).content.decode()
    assert "500.00 INR" in listing and "10%" in listing


def test_ledger_lists_show_amounts_and_link_audit_objects(ops, program, confirmed_reward):
    reward = confirmed_reward("carol", 123456)
    txns = ops.get(reverse("admin:ledger_transaction_changelist"))
    html = txns.content.decode()
    assert html.count("1,234.56 INR") == 2  # the pending booking and the post that confirms it
    assert f"{str(reward.transaction_id)[:8]}…" in html
    assert len(txns.context["cl"].result_list) == Transaction.objects.count()

    postings = ops.get(reverse("admin:ledger_posting_changelist")).content.decode()
    assert "1,234.56 INR" in postings

    entry = AuditEntry.objects.filter(object_type="reward", object_id=str(reward.pk)).first()
    assert entry is not None
    audit = ops.get(reverse("admin:ledger_auditentry_changelist")).content.decode()
    link = reverse("admin:ledger_reward_change", args=[reward.pk])
    assert f"<a href='{link}'>reward {entry.object_id}</a>" in audit
