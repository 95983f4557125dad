"""GET P and PATCH P (SPEC section 11): the program with all its settings; changes audited
through program_update; https, allowed domains and the 1-365 window enforced."""

from __future__ import annotations

import pytest
from django.test import override_settings

from config.platform.models import AuditEntry, Program

pytestmark = pytest.mark.django_db


def test_get_program_lists_every_setting(api, url, program):
    for path in (url(""), f"/api/v1/programs/{program.slug}"):
        r = api.get(path)
        assert r.status_code == 200, r.content
        body = r.json()
        assert body["slug"] == "acme" and body["currency"] == "INR"
        assert body["attribution_window_days"] == 90
        assert body["attribution_model"] == "last_click"
        assert body["partner_signup"] == "closed"
        assert body["landing_url"] == "" and body["allowed_domains"] == []
        for key in (
            "direct_rate_bps",
            "override_rate_bps",
            "hold_days",
            "min_payout",
            "fraud_amount_threshold",
        ):
            assert key in body


@pytest.fixture
def admin_api(admin_client):
    return admin_client  # a superuser session: PATCH P needs ledger.change_program


def patch(client, url, body):
    return client.patch(url(""), body, content_type="application/json")


def test_patch_changes_and_audits(admin_api, url, program):
    r = patch(
        admin_api,
        url,
        {
            "landing_url": "https://Shop.Example.com/start",
            "allowed_domains": ["Example.com.", "https://bücher.example"],
            "attribution_window_days": 30,
            "attribution_model": "first_click",
            "partner_signup": "approval",
            "hold_days": 7,
        },
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["landing_url"] == "https://shop.example.com/start"
    assert body["allowed_domains"] == ["example.com", "xn--bcher-kva.example"]
    assert (body["attribution_window_days"], body["attribution_model"]) == (30, "first_click")
    assert body["partner_signup"] == "approval" and body["hold_days"] == 7
    entry = AuditEntry.objects.filter(action="program.updated").latest("id")
    assert entry.before is not None and entry.after is not None
    assert entry.before["attribution_window_days"] == 90
    assert entry.after["allowed_domains"] == ["example.com", "xn--bcher-kva.example"]
    assert entry.actor.startswith("user:")
    # Unchanged fields are not audited.
    r = patch(admin_api, url, {"attribution_window_days": 30})
    assert r.status_code == 200
    assert AuditEntry.objects.filter(action="program.updated").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attribution_window_days": 0}, "attribution_window_days"),
        ({"attribution_window_days": 366}, "attribution_window_days"),
        ({"attribution_window_days": "30"}, "attribution_window_days"),
        ({"attribution_window_days": 30.0}, "attribution_window_days"),
        ({"attribution_model": "linear"}, "attribution_model"),
        ({"partner_signup": "anyone"}, "partner_signup"),
        ({"allowed_domains": ["http://example.com"]}, "allowed_domains[0]"),
        ({"allowed_domains": ["*.example.com"]}, "allowed_domains[0]"),
        ({"allowed_domains": "example.com"}, "allowed_domains"),
        (
            {"landing_url": "http://example.com/", "allowed_domains": ["example.com"]},
            "landing_url",
        ),
        ({"landing_url": "https://example.com/"}, "landing_url"),  # no allowed domain yet
        (
            {"landing_url": "https://evil.com/", "allowed_domains": ["example.com"]},
            "landing_url",
        ),
        ({"landing_url": "javascript:alert(1)"}, "landing_url"),
        ({"slug": "other"}, "slug"),
        ({"currency": "USD"}, "currency"),
        ({"hold_days": -1}, "hold_days"),
    ],
)
def test_patch_validation(admin_api, url, program, body, field):
    r = patch(admin_api, url, body)
    assert r.status_code == 400, r.content
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert r["Content-Type"] == "application/problem+json"
    fields = {e.get("field") for e in problem.get("errors", [])}
    assert field in fields, problem
    assert not AuditEntry.objects.filter(action="program.updated").exists()
    assert Program.objects.get(pk=program.pk).attribution_window_days == 90


def test_shrinking_domains_under_the_landing_url_is_refused(admin_api, url, program):
    ok = {"landing_url": "https://example.com/", "allowed_domains": ["example.com"]}
    assert patch(admin_api, url, ok).status_code == 200
    r = patch(admin_api, url, {"allowed_domains": ["other.com"]})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "allowed_domains"


def test_debug_allows_http(admin_api, url, program):
    with override_settings(DEBUG=True):
        r = patch(
            admin_api,
            url,
            {"landing_url": "http://localhost:8000/x", "allowed_domains": ["localhost"]},
        )
    assert r.status_code == 200, r.content


def test_patch_needs_change_program(api, url, program):
    """An API client (the program's service identity) may read the program, not change it."""
    assert api.get(url("")).status_code == 200
    r = api.patch(url(""), {"hold_days": 3}, format="json")
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


def test_admin_form_shows_and_saves_link_settings(admin_client, program):
    page = admin_client.get(f"/admin/ledger/program/{program.pk}/change/")
    assert page.status_code == 200
    for label in (b"Landing page", b"Allowed domains", b"Attribution window", b"Partner signup"):
        assert label in page.content
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "name": program.name,
            "min_payout": "0",
            "fraud_amount_threshold": "",
            "landing_url": "https://example.com/",
            "allowed_domains": "example.com\nshop.example.org",
            "attribution_window_days": "400",
            "attribution_model": "last_click",
            "partner_signup": "open",
        }
    )
    r = admin_client.post(f"/admin/ledger/program/{program.pk}/change/", data)
    assert r.status_code == 200 and b"1 to 365" in r.content  # the form says what is wrong
    data["attribution_window_days"] = "60"
    r = admin_client.post(f"/admin/ledger/program/{program.pk}/change/", data)
    assert r.status_code == 302, r.content[:2000]
    program.refresh_from_db()
    assert program.allowed_domains == ["example.com", "shop.example.org"]
    assert (program.attribution_window_days, program.partner_signup) == (60, "open")
