"""The operator console: the delivery log (filters), the audited, permission-guarded replay,
and the integration page whose secret is write-only."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from config.platform.models import AuditEntry
from rules.billing.models import Delivery
from tests.billing.conftest import STRIPE_SECRET, checkout, post_stripe
from tests.ledger.operator_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def billing_groups(groups):
    importlib.import_module("rules.billing.migrations.0001_initial").grant(apps, None)


def test_operators_read_the_log_filter_it_and_replay(program, integrate, staff, billing_groups):
    integrate()
    post_stripe(checkout())
    event = checkout(event_id="evt_other")
    event["type"] = "customer.created"
    post_stripe(event)
    ops = staff("olga", "operators")
    page = ops.get("/admin/billing/delivery/?status__exact=ignored")
    assert page.status_code == 200
    text = page.content.decode()
    assert "evt_other" in text and "evt_checkout_1" not in text
    assert ops.get("/admin/billing/delivery/?provider__exact=stripe").status_code == 200
    delivery = Delivery.objects.get(provider_event_id="evt_checkout_1")
    assert ops.get(f"/admin/billing/delivery/{delivery.pk}/change/").status_code == 200

    r = ops.post(
        "/admin/billing/delivery/",
        {"action": "replay", "_selected_action": [delivery.pk]},
    )
    assert r.status_code == 302
    entry = AuditEntry.objects.get(action="billing.delivery.replayed")
    assert entry.actor == "user:olga"
    delivery.refresh_from_db()
    assert delivery.status == "processed"


def test_replay_needs_its_permission(program, integrate, staff, billing_groups):
    integrate()
    post_stripe(checkout())
    delivery = Delivery.objects.get()
    approver = staff("ann", "approvers")  # may read the log, not replay
    page = approver.get("/admin/billing/delivery/")
    assert page.status_code == 200 and 'value="replay"' not in page.content.decode()
    approver.post(
        "/admin/billing/delivery/", {"action": "replay", "_selected_action": [delivery.pk]}
    )
    assert not AuditEntry.objects.filter(action="billing.delivery.replayed").exists()
    assert staff("rita", "rule authors").get("/admin/billing/delivery/").status_code == 403


def test_the_integration_page_never_shows_the_secret(program, integrate, staff, billing_groups):
    integration = integrate()
    root = staff("root", superuser=True)
    page = root.get(f"/admin/billing/integration/{integration.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert STRIPE_SECRET not in text and integration.signing_secret_encrypted not in text
    assert "••••CRET" in text
    # Saving without a secret keeps it; with one, replaces it (audited, hint only).
    r = root.post(
        f"/admin/billing/integration/{integration.pk}/change/",
        {
            "refund_policy": "record_only",
            "mapping": "{}",
            "active": "on",
            "signing_secret": "whsec_rotated_secret_1234",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    integration.refresh_from_db()
    assert integration.refund_policy == "record_only" and integration.secret_hint == "••••1234"
    entry = AuditEntry.objects.filter(action="billing.integration.updated").get()
    assert entry.actor == "user:root" and (entry.after or {})["secret_changed"] is True
