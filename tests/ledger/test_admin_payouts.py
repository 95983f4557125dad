"""The operator console, part 2: payout batches under the two-person rule, and reconciliation
runs with "run now" (Django's test client)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from config.platform.models import AuditEntry
from ledger.models import ReconciliationRun
from rules.rewards.models import PayoutBatch, Reward
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(staff):
    return staff("alice", "operators")


@pytest.fixture
def bob(staff):
    return staff("bob", "approvers")


def _step(client, batch_id: int, step: str, **data):
    # Approve, execute and reject ask once more on a confirmation page: answer it.
    data.setdefault("confirmed", "yes")
    return client.post(
        reverse("admin:ledger_payoutbatch_step", args=[batch_id, step]), data, follow=True
    )


def _messages(response) -> str:
    return " | ".join(str(m.message) for m in response.context["messages"])


def _page(client, batch_id: int) -> str:
    return client.get(reverse("admin:ledger_payoutbatch_change", args=[batch_id])).content.decode()


def _new_batch(client, program) -> PayoutBatch:
    r = client.post(
        reverse("admin:ledger_payoutbatch_add"),
        {"program": program.pk, "description": "weekly"},
    )
    assert r.status_code == 302
    return PayoutBatch.objects.latest("pk")


def test_two_person_approval_walkthrough(alice, bob, program, confirmed_reward):
    reward = confirmed_reward("carol", 1500)
    batch = _new_batch(alice, program)
    assert batch.created_by == "user:alice" and batch.status == "draft"

    r = _step(alice, batch.pk, "add_item", beneficiary="carol", amount="")
    assert f"Added carol to payout batch #{batch.pk}: 15.00 INR" in _messages(r)
    r = _step(alice, batch.pk, "submit")
    batch.refresh_from_db()
    assert batch.status == "pending_approval"

    page = _page(alice, batch.pk)  # the creator does not even see "approve"
    assert 'name="approve-batch"' not in page and 'id="four-eyes-note"' in page
    r = _step(alice, batch.pk, "approve")
    assert "another person must approve" in _messages(r)
    batch.refresh_from_db()
    assert batch.status == "pending_approval"

    assert 'name="approve-batch"' in _page(bob, batch.pk)
    assert 'name="execute-batch"' not in _page(bob, batch.pk)
    _step(bob, batch.pk, "approve")
    batch.refresh_from_db()
    assert (batch.status, batch.approved_by) == ("approved", "user:bob")

    assert 'name="execute-batch"' in _page(alice, batch.pk)
    r = _step(alice, batch.pk, "execute")
    assert "executed" in _messages(r).lower()
    batch.refresh_from_db()
    reward.refresh_from_db()
    assert batch.status == "executed" and reward.status == "paid"
    page = _page(alice, batch.pk)
    assert f"payout:{batch.pk}:" in page and 'name="execute-batch"' not in page

    csv = alice.get(reverse("admin:ledger_payoutbatch_export", args=[batch.pk]))
    assert csv.status_code == 200
    assert csv.content.decode().splitlines()[1].startswith("carol,1500,15.00,INR,payout:")


def test_an_operator_cannot_approve_even_someone_elses_batch(
    staff, alice, program, confirmed_reward
):
    confirmed_reward("carol", 100)
    batch = _new_batch(alice, program)
    _step(alice, batch.pk, "add_item", beneficiary="carol")
    _step(alice, batch.pk, "submit")
    other_operator = staff("otto", "operators")
    assert 'name="approve-batch"' not in _page(other_operator, batch.pk)
    r = other_operator.post(reverse("admin:ledger_payoutbatch_step", args=[batch.pk, "approve"]))
    assert r.status_code == 403


def test_a_superuser_creator_still_cannot_approve(staff, program, confirmed_reward):
    root = staff("root", superuser=True)
    confirmed_reward("carol", 100)
    batch = _new_batch(root, program)
    _step(root, batch.pk, "add_item", beneficiary="carol")
    _step(root, batch.pk, "submit")
    assert 'name="approve-batch"' not in _page(root, batch.pk)
    _step(root, batch.pk, "approve")
    batch.refresh_from_db()
    assert batch.status == "pending_approval"


def test_item_errors_are_shown_and_nothing_changes(alice, program, confirmed_reward):
    confirmed_reward("carol", 100)
    batch = _new_batch(alice, program)
    r = _step(alice, batch.pk, "add_item", beneficiary="carol", amount="1.01")
    assert "carol has 1.00 INR available" in _messages(r)
    r = _step(alice, batch.pk, "add_item", beneficiary="", amount="")
    assert "Item not added" in _messages(r)
    r = _step(alice, batch.pk, "submit")
    assert "no items" in _messages(r)
    assert not batch.items.exists()


def test_reject_needs_a_reason(alice, bob, program, confirmed_reward):
    confirmed_reward("carol", 100)
    batch = _new_batch(alice, program)
    _step(alice, batch.pk, "add_item", beneficiary="carol")
    _step(alice, batch.pk, "submit")
    r = _step(bob, batch.pk, "reject", reason="")
    assert "reason is required" in _messages(r)
    assert 'id="confirm-headline"' in r.content.decode()  # the page asks again
    _step(bob, batch.pk, "reject", reason="wrong amounts")
    batch.refresh_from_db()
    assert (batch.status, batch.rejection_reason) == ("rejected", "wrong amounts")
    assert AuditEntry.objects.get(action="payout_batch.rejected").actor == "user:bob"
    page = _page(alice, batch.pk)
    assert "wrong amounts" in page and 'name="submit-batch"' not in page


def test_buttons_follow_the_state(alice, bob, program, confirmed_reward):
    confirmed_reward("carol", 100)
    batch = _new_batch(alice, program)
    page = _page(alice, batch.pk)
    assert 'name="submit-batch"' in page and 'id="add-item-form"' in page
    assert 'id="export-csv"' not in page
    assert alice.get(reverse("admin:ledger_payoutbatch_export", args=[batch.pk])).status_code == 302
    assert (
        alice.get(reverse("admin:ledger_payoutbatch_step", args=[batch.pk, "submit"])).status_code
        == 405
    )
    r = _step(bob, batch.pk, "execute")
    assert r.status_code == 403


def test_batch_list_and_no_direct_edits(alice, program, confirmed_reward):
    confirmed_reward("carol", 100)
    batch = _new_batch(alice, program)
    _step(alice, batch.pk, "add_item", beneficiary="carol")
    page = alice.get(reverse("admin:ledger_payoutbatch_changelist"))
    assert page.status_code == 200 and b"1.00 INR" in page.content
    assert alice.get(reverse("admin:ledger_payoutbatch_delete", args=[batch.pk])).status_code == 403


def test_payout_pages_need_the_permissions(staff, program):
    nobody = staff("nina")  # staff, no group
    assert nobody.get(reverse("admin:ledger_payoutbatch_add")).status_code == 403
    assert nobody.get(reverse("admin:ledger_payoutbatch_changelist")).status_code == 403


# --- reconciliation runs -----------------------------------------------------------------------


def test_run_now(alice, program, confirmed_reward):
    reward = confirmed_reward("carol", 100)
    page = alice.get(reverse("admin:ledger_reconciliationrun_changelist"))
    assert b'id="run-now"' in page.content

    r = alice.post(
        reverse("admin:ledger_reconciliationrun_run"), {"program": program.pk}, follow=True
    )
    run = ReconciliationRun.objects.get()
    assert (run.program, run.status, run.actor) == (program, "clean", "user:alice")
    assert "clean" in _messages(r)

    Reward.objects.filter(pk=reward.pk).update(status="paid")
    r = alice.post(reverse("admin:ledger_reconciliationrun_run"), {"program": ""}, follow=True)
    latest = ReconciliationRun.objects.filter(program=None).get()
    assert latest.status == "discrepancies" and "discrepancies" in _messages(r)
    detail = alice.get(reverse("admin:ledger_reconciliationrun_change", args=[latest.pk]))
    assert b"reward_states" in detail.content and str(reward.pk).encode() in detail.content


def test_approvers_cannot_run_reconciliations(bob):
    page = bob.get(reverse("admin:ledger_reconciliationrun_changelist"))
    assert page.status_code == 200 and b'id="run-now"' not in page.content
    assert bob.post(reverse("admin:ledger_reconciliationrun_run")).status_code == 403
