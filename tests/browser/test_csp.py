"""The Content-Security-Policy breaks no page: Chromium reports every violation as a console
error, and `staff_page` fails a test on any (tests/browser/conftest.py)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_api_under_the_policy(staff_page, live_server):
    response = staff_page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # The operations appear only if the bundle, the start-up script (a file, not inline) and the
    # schema request all ran.
    staff_page.wait_for_selector(".opblock-summary-path")
    assert staff_page.locator(".opblock").count() > 20


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/ledger/reward/",
        "/admin/ledger/reward/?status__exact=pending",
        "/admin/ledger/auditentry/",
        "/admin/ledger/reconciliationrun/",
        "/admin/ledger/webhookendpoint/add/",
        "/admin/auth/user/add/",
        "/admin/auth/group/add/",
        "/builder/",
    ],
)
def test_admin_and_builder_pages_load_without_violations(staff_page, live_server, program, path):
    response = staff_page.goto(f"{live_server.url}{path}")
    assert response.status == 200
    assert "content-security-policy" in response.headers
    staff_page.wait_for_load_state("networkidle")
