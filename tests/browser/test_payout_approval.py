"""A payout batch approved by two different staff users, in real headless Chromium against the
live server (issue 5), and the admin dashboard's charts."""

from __future__ import annotations

import re

import pytest

from rules.services.referrals import referral_create
from tests.browser.conftest import STAFF_PASSWORD
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.browser


def log_in_as(page, live_server, username: str, password: str, next_path: str) -> None:
    """A real login through the admin's form, after dropping the current session."""
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_path)))


# Chromium asks for /favicon.ico on a fresh login page; the site has none (not this test's
# concern).
FAVICON = r"favicon\.ico"


def test_two_staff_users_walk_a_payout_through_approval(
    staff_page, live_server, program, confirmed_reward, groups, page_errors
):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from rules.rewards.models import PayoutBatch, Reward

    reward = confirmed_reward("carol", 150_000)
    approver = get_user_model().objects.create_user("bob", password="bob-password", is_staff=True)
    approver.groups.add(Group.objects.get(name="approvers"))
    page = staff_page
    page_errors.allow(FAVICON)

    # The creator (user "staff") drafts the batch, adds carol's whole balance and submits.
    page.goto(f"{live_server.url}/admin/ledger/payoutbatch/add/")
    page.select_option("select[name=program]", str(program.pk))
    page.fill("input[name=description]", "March affiliates")
    page.click("input[name=_create]")
    page.fill("#add-item-form input[name=beneficiary]", "carol")
    page.click("input[name=add-item]")
    assert "1,500.00 INR" in page.inner_text("#payout-items")
    page.click("input[name=submit-batch]")
    assert page.inner_text("#batch-status") == "Pending Approval"
    batch = PayoutBatch.objects.get()
    detail = f"/admin/ledger/payoutbatch/{batch.pk}/change/"

    # The creator does not even see "approve".
    assert page.locator("input[name=approve-batch]").count() == 0
    assert page.locator("#four-eyes-note").is_visible()

    # A second person approves.
    log_in_as(page, live_server, "bob", "bob-password", detail)
    assert page.locator("input[name=execute-batch]").count() == 0  # approvers do not execute
    page.click("input[name=approve-batch]")
    # Approving asks first, and says what will move, in major units with the currency.
    assert "1,500.00 INR" in page.inner_text("#content-main")
    page.click("input[name=confirm-approve]")
    assert page.inner_text("#batch-status") == "Approved"
    assert "user:bob" in page.inner_text("#content-main")

    # Back to the operator, who executes it.
    log_in_as(page, live_server, "staff", STAFF_PASSWORD, detail)
    page.click("input[name=execute-batch]")
    assert "1,500.00 INR" in page.inner_text("#content-main")
    page.click("input[name=confirm-execute]")
    assert page.inner_text("#batch-status") == "Executed"
    assert f"payout:{batch.pk}:" in page.inner_text("#payout-items")
    assert page.locator("#export-csv").is_visible()

    batch.refresh_from_db()
    reward.refresh_from_db()
    assert (batch.created_by, batch.approved_by) == ("user:staff", "user:bob")
    assert batch.status == "executed" and reward.status == Reward.Status.PAID


def test_dashboard_draws_its_charts(staff_page, live_server, program, confirmed_reward):
    confirmed_reward("carol", 1000)
    confirmed_reward("dave", 500)
    for referrer, referred in (("carol", "x1"), ("dave", "x2"), ("dave", "x3")):
        referral_create(program=program, referrer=referrer, referred=referred, actor="test")
    page = staff_page
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_function(
        "['chart-per-day', 'chart-totals', 'chart-top']"
        ".every((id) => document.getElementById(id).chart)"
    )
    labels = page.evaluate("document.getElementById('chart-top').chart.data.labels")
    assert labels == ["dave", "carol"]  # by referrals
    totals = page.evaluate("document.getElementById('chart-totals').chart.data.datasets[0].data")
    assert totals == [0, 1500, 0]
