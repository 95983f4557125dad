"""P/integrations/{provider} as each staff group and as another program's key (SPEC section 13):
changing a connector (its signing secret) is for superusers; reading it is for operators and
approvers; another program's key gets 404; the secret is in no response, page or audit entry."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from config.platform.models import AuditEntry

pytestmark = pytest.mark.django_db

SECRET = "whsec_attack_secret_value_77aa"
GROUPS = ["operators", "approvers", "api clients", "key managers", "rule authors"]
READERS = {"operators", "approvers"}


@pytest.fixture
def groups(program):
    importlib.import_module("rules.billing.migrations.0001_initial").grant(apps, None)
    for name in GROUPS:
        Group.objects.get_or_create(name=name)


def _client(username: str, *, group: str | None = None, superuser: bool = False) -> APIClient:
    user = get_user_model().objects.create_user(
        username=username, password="pw", is_staff=True, is_superuser=superuser
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def configured(groups, url):
    root = _client("root", superuser=True)
    r = root.put(url("integrations/stripe"), {"signing_secret": SECRET}, format="json")
    assert r.status_code == 200, r.content
    return root


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_reads_only_if_allowed_and_never_writes(configured, url, group):
    client = _client(f"u-{group.replace(' ', '-')}", group=group)
    got = client.get(url("integrations/stripe"))
    assert got.status_code == (200 if group in READERS else 403), got.content
    assert SECRET not in got.content.decode()
    put = client.put(
        url("integrations/stripe"), {"signing_secret": "whsec_takeover_1234567"}, format="json"
    )
    assert put.status_code == 403, put.content
    assert put["Content-Type"].startswith("application/problem+json")


def test_another_programs_key_gets_404(configured, url):
    from config.platform.api_keys import api_key_create
    from rules.rewards.services.programs import program_create

    other, _ = program_create(slug="other", name="Other", currency="INR")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=other)[1]}")
    for method in ("get", "put"):
        r = getattr(client, method)(
            url("integrations/stripe"), {"signing_secret": "whsec_x_12345678"}, format="json"
        )
        assert r.status_code == 404, (method, r.status_code, r.content)


def test_unknown_provider_is_404_problem(configured, url):
    for provider in ("braintree", "STRIPE", "stripe%00", "..%2fstripe"):
        r = configured.get(url(f"integrations/{provider}"))
        assert r.status_code in (400, 404), (provider, r.status_code)
        assert r["Content-Type"].startswith("application/problem+json")


def test_the_secret_is_in_no_admin_page_nor_audit_entry(configured, url, client):
    from rules.billing.models import Integration

    client.force_login(get_user_model().objects.get(username="root"))
    integration = Integration.objects.get()
    for path in (
        "/admin/billing/integration/",
        f"/admin/billing/integration/{integration.pk}/change/",
        "/admin/billing/delivery/",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert SECRET not in page.content.decode(), path
    entries = list(AuditEntry.objects.values("before", "after", "action"))
    assert entries and SECRET not in json.dumps(entries, default=str)
    # a secret change is audited as a change, still without either secret
    configured.put(url("integrations/stripe"), {"signing_secret": SECRET + "2"}, format="json")
    assert SECRET not in json.dumps(list(AuditEntry.objects.values("before", "after")))
