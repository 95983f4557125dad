"""The console's analytics page in headless Chromium: the funnel and the amounts drawn by
Chart.js from the page's JSON, with no console error (no inline script under the CSP)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.analytics import helpers


def test_the_analytics_page_draws_the_funnel(staff_page, live_server, program):
    partners = helpers.participants(program, 1, "p")
    users = helpers.participants(program, 1, "u")
    helpers.clicks(program, partners[0], date(2026, 3, 1), 12, 9)
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    helpers.referral(program, partners[0], users[0], at)
    helpers.conversion(
        program, helpers.rule_version(program), users[0], at, [("p0", 12345, "confirmed", at)]
    )
    page = staff_page
    page.goto(
        f"{live_server.url}/admin/rules/clickdaily/analytics/"
        "?program=acme&start=2026-03-01&end=2026-03-03&participant=p0"
    )
    page.wait_for_function(
        "['chart-funnel', 'chart-amounts'].every((id) => document.getElementById(id).chart)"
    )
    datasets = page.evaluate(
        "document.getElementById('chart-funnel').chart.data.datasets.map((d) => [d.label, d.data])"
    )
    assert datasets == [
        ["Clicks", [12, 0, 0]],
        ["Referrals", [0, 1, 0]],
        ["Conversions", [0, 1, 0]],
        ["Rewards", [0, 1, 0]],
    ]
    assert "123.45 INR" in page.locator("#reward-amounts").inner_text()
    page.screenshot(path="/tmp/h_analytics_page.png", full_page=True)
