"""The participant's page and the audit log on a 1366 by 768 screen (the common laptop): nothing
scrolls sideways, neither the page nor the audit log's table, with long actors, reasons and
changes in it."""

from __future__ import annotations

import pytest

from config.platform.audit import audit_record
from rules.services.participants import participant_upsert
from rules.services.referrals import referral_create
from tests.ledger.operator_fixtures import *  # noqa: F403  (confirmed_reward)

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}

# Widths the page and the change list's table take beyond what they show (0: no scroll).
OVERFLOW = """() => {
  const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  const results = document.querySelector('#changelist .results');
  const table = results ? results.scrollWidth - results.clientWidth : 0;
  return {page, table};
}"""


@pytest.fixture
def busy_log(program, confirmed_reward):
    """alice, referred by zoe and referring bob, with rewards, a reversal with a long reason,
    a long actor and a settings change with several fields."""
    participant_upsert(
        program=program,
        external_id="alice",
        attributes={"email": "alice.with.a.rather.long.address@example.com", "plan": "pro"},
        actor="api_key:0123456789abcdef-checkout-backend-production",
    )
    referral_create(program=program, referrer="zoe", referred="alice", actor="test")
    referral_create(program=program, referrer="alice", referred="bob", actor="test")
    for amount in (150000, 2500, 99):
        confirmed_reward("alice", amount)
    audit_record(
        program=program,
        actor="user:an-operator-with-a-very-long-username-indeed",
        action="program.updated",
        object_type="program",
        object_id=program.slug,
        before={"min_payout": 500, "fraud_amount_threshold": 200000, "hold_days": 0},
        after={"min_payout": 10000, "fraud_amount_threshold": 5000000, "hold_days": 14},
        reason="Quarterly review: " + "the finance team asked for longer holds " * 6,
    )
    from rules.models import Participant

    return Participant.objects.get(program=program, external_id="alice")


def test_audit_log_fits_a_laptop_screen(staff_page, live_server, busy_log):
    page = staff_page
    page.set_viewport_size(LAPTOP)
    for query in ("", "?participant=alice", "?q=alice"):
        page.goto(f"{live_server.url}/admin/ledger/auditentry/{query}")
        assert page.locator("#result_list tbody tr").count() > 0, query
        assert page.evaluate(OVERFLOW) == {"page": 0, "table": 0}, query
    # Only what changed, money in major units.
    page.goto(f"{live_server.url}/admin/ledger/auditentry/?action__exact=program.updated")
    changes = page.inner_text("td.field-change_list")
    assert "min_payout 5.00 INR → 100.00 INR" in changes
    assert "fraud_amount_threshold 2,000.00 INR → 50,000.00 INR" in changes


def test_participant_page_fits_a_laptop_screen(staff_page, live_server, busy_log):
    page = staff_page
    page.set_viewport_size(LAPTOP)
    page.goto(f"{live_server.url}/admin/rules/participant/{busy_log.pk}/change/")
    assert page.inner_text("#participant-balance [data-key=available]") == "1,525.99 INR"
    for section in ("referrer", "links", "rewards", "downline", "events", "audit"):
        assert page.locator(f"#participant-{section}").is_visible(), section
    assert page.evaluate(OVERFLOW)["page"] == 0
    # From search by email to the page, and from the page to its audit entries.
    page.goto(f"{live_server.url}/admin/rules/participant/")
    page.fill("#searchbar", "alice.with.a.rather.long.address@example.com")
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    assert page.locator("#result_list tbody tr").count() == 1
    with page.expect_navigation():
        page.click("#result_list a:text('alice')")
    with page.expect_navigation():
        page.click("#participant-audit .section-more a")
    assert "participant=alice" in page.url
    assert page.locator("#result_list tbody tr").count() > 0
    assert page.evaluate(OVERFLOW) == {"page": 0, "table": 0}
