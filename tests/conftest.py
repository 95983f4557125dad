"""Shared fixtures. The suite runs on the database named by DATABASE_URL: PostgreSQL for the
full run (make test / CI), SQLite as the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

MIGRATIONS = Path(__file__).resolve().parent.parent / "ledger" / "migrations"


def _patch_flush_for_append_only_tables() -> None:
    """Transactional tests end with a flush, which the immutability triggers refuse (as they
    should). Only the test harness lifts them, inside the flush's own transaction."""
    ops_class = type(connection.ops)
    original = ops_class.sql_flush
    if connection.vendor == "postgresql":

        def sql_flush(self, style, tables, **kwargs):
            statements = original(self, style, tables, **kwargs)
            return (
                ["SET LOCAL session_replication_role = replica", *statements] if statements else []
            )

    else:
        # Every trigger the migrations made (0002, 0009, 0010 and the rules app's), read from
        # the schema at flush time: dropped before the flush, re-created as they were after it.

        def sql_flush(self, style, tables, **kwargs):
            statements = original(self, style, tables, **kwargs)
            if not statements:
                return []
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                triggers = cursor.fetchall()
            drop = [f'DROP TRIGGER IF EXISTS "{name}"' for name, _ in triggers]
            return [*drop, *statements, *(sql for _, sql in triggers)]

    ops_class.sql_flush = sql_flush  # type: ignore[method-assign]  # the test harness's patch


_patch_flush_for_append_only_tables()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
            )


@pytest.fixture
def program(db):
    from rules.rewards.services.programs import program_create

    ensure_groups()  # keys made for it act as service identities in these groups
    program, _ = program_create(slug="acme", name="Acme", currency="INR")
    return program


def ensure_groups() -> None:
    """The groups and their permissions as the migrations leave them (ledger 0006, rules 0002,
    ledger 0009, in that order): a transactional test's flush deletes them, and a key's owner
    has its permissions through them. Cheap when they are there."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group

    if Group.objects.filter(name__in=["api clients", "key managers", "rule authors"]).count() == 3:
        return
    importlib.import_module("ledger.migrations.0006_operator_groups").create_groups(apps, None)
    importlib.import_module("rules.migrations.0002_group_permissions").grant(apps, None)
    importlib.import_module("ledger.migrations.0009_api_key_owner").apply_groups(apps, None)
    importlib.import_module("rules.migrations.0005_referral_links").grant(apps, None)
    importlib.import_module("rules.migrations.0006_analytics").grant(apps, None)
    importlib.import_module("rules.migrations.0008_attribution_coupons").grant(apps, None)
    importlib.import_module("rules.migrations.0012_scenarios_publish_requests").grant(apps, None)
    importlib.import_module("rules.migrations.0013_publish_permissions").grant(apps, None)
    importlib.import_module("ledger.migrations.0013_payout_rails").grant_payout_methods(apps, None)
    importlib.import_module("rules.billing.migrations.0001_initial").grant(apps, None)
    importlib.import_module("rules.tiers.migrations.0001_initial").grant(apps, None)
    importlib.import_module("builder.portal.migrations.0002_operator_permissions").grant(apps, None)
    importlib.import_module("builder.portal.migrations.0005_email_outbox_permissions").grant(
        apps, None
    )


@pytest.fixture
def api_key(program):
    """A key of the program's service identity `api-acme` (what `manage.py create_api_key acme`
    makes): the "api clients" group's permissions, which do not include approving payouts."""
    from config.platform.api_keys import api_key_create

    ensure_groups()
    return api_key_create(program=program, name="tests")[1]


@pytest.fixture
def approver_api(program) -> APIClient:
    """A client whose key belongs to another service identity, `approver-acme`, in the
    "approvers" group: a second person for payout batches."""
    from config.platform.api_keys import api_key_create, service_identity_get_or_create

    ensure_groups()
    owner, _ = service_identity_get_or_create(username="approver-acme", groups=("approvers",))
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(program=program, owner=owner)[1]}"
    )
    return client


@pytest.fixture
def api(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def url():
    def build(path: str, slug: str = "acme") -> str:
        return f"/api/v1/programs/{slug}/{path.lstrip('/')}"

    return build
