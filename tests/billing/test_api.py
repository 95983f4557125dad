"""PUT/GET P/integrations/{provider} (SPEC section 13): the secret is encrypted, never
returned, and audited only as a masked hint."""

from __future__ import annotations

import json

import pytest

from config.platform.models import AuditEntry
from rules.billing.models import Integration


@pytest.fixture
def admin_api(program):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    user = get_user_model().objects.create_user(
        username="root", password="pw", is_staff=True, is_superuser=True
    )
    client = APIClient()
    client.force_authenticate(user)
    return client


pytestmark = pytest.mark.django_db

SECRET = "whsec_live_secret_value_9f8e"


def test_put_then_get_never_returns_the_secret(admin_api, url):
    r = admin_api.put(
        url("integrations/stripe"),
        {"signing_secret": SECRET, "refund_policy": "record_only"},
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["signing_secret"] == {"set": True, "hint": "••••9f8e"}
    assert body["refund_policy"] == "record_only"
    assert body["webhook_path"] == "/hooks/stripe/acme"
    assert SECRET not in r.content.decode()
    got = admin_api.get(url("integrations/stripe"))
    assert got.status_code == 200 and SECRET not in got.content.decode()
    assert got.json()["signing_secret"]["set"] is True
    stored = Integration.objects.get()
    assert SECRET not in stored.signing_secret_encrypted
    entry = AuditEntry.objects.get(action="billing.integration.created")
    assert SECRET not in json.dumps([entry.before, entry.after])
    assert (entry.after or {})["secret_hint"] == "••••9f8e"


def test_put_without_a_secret_keeps_the_stored_one(admin_api, url):
    admin_api.put(url("integrations/paddle"), {"signing_secret": SECRET}, format="json")
    before = Integration.objects.get().signing_secret_encrypted
    r = admin_api.put(
        url("integrations/paddle"),
        {"mapping": {"event_types": {"purchase": "order_paid"}}},
        format="json",
    )
    assert r.status_code == 200
    assert r.json()["mapping"] == {"event_types": {"purchase": "order_paid"}}
    assert r.json()["refund_policy"] == "reverse_or_clawback"
    assert Integration.objects.get().signing_secret_encrypted == before
    entry = AuditEntry.objects.get(action="billing.integration.updated")
    assert (entry.before or {})["mapping"] == {} and "secret_changed" not in (entry.after or {})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "signing_secret"),
        ({"signing_secret": "short"}, "signing_secret"),
        ({"signing_secret": SECRET, "refund_policy": "keep_everything"}, "refund_policy"),
        ({"signing_secret": SECRET, "mapping": {"event_types": {"signup": "x"}}}, "mapping"),
        ({"signing_secret": SECRET, "mapping": {"colour": "red"}}, "mapping"),
    ],
)
def test_invalid_settings_are_400(admin_api, url, body, field):
    r = admin_api.put(url("integrations/stripe"), body, format="json")
    assert r.status_code == 400, r.content
    assert r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "validation_error"
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()
    assert not Integration.objects.exists()


def test_unknown_provider_or_unconfigured_is_404(admin_api, url):
    assert admin_api.get(url("integrations/stripe")).status_code == 404
    r = admin_api.put(url("integrations/braintree"), {"signing_secret": SECRET}, format="json")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_an_api_client_key_may_not_read_or_change_it(api, url):
    assert api.get(url("integrations/stripe")).status_code == 403
    r = api.put(url("integrations/stripe"), {"signing_secret": SECRET}, format="json")
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


def test_the_schema_documents_the_endpoints(admin_api):
    schema = admin_api.get("/api/schema/?format=json").json()
    path = schema["paths"]["/api/v1/programs/{program}/integrations/{provider}"]
    assert {"get", "put"} <= set(path)
    assert path["put"]["operationId"] == "integration_update"


def test_unknown_fields_and_wrong_types_are_400(admin_api, url):
    for body in (
        {"signing_secret": SECRET, "secret": "typo"},
        {"signing_secret": 12345678901},
        {"signing_secret": SECRET, "mapping": []},
        {"signing_secret": SECRET, "active": "yes"},
    ):
        r = admin_api.put(url("integrations/stripe"), body, format="json")
        assert r.status_code == 400 and r.json()["code"] == "validation_error", body
    assert not Integration.objects.exists()
